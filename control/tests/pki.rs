//! The certificate side of IKEv2 authentication against a real test PKI made with
//! strongSwan's `pki` and OpenSSL (tests/data/pki, see its README.txt): loading, chain
//! validation and each of its errors, identity matching, AUTH signatures (methods 14, 1, 9,
//! 10) including signatures made by OpenSSL, CERTREQ hashes, and hostile input.

use std::path::{Path, PathBuf};

use control::ikev2::wire::{
    AuthMethod, AuthRepr, CertEncoding, CertRepr, CertReqRepr, IdRepr, IdType, PayloadBody,
};
use control::pki::auth::{
    choose_auth_signature, peer_signature_hashes, sign_auth, signature_hash_algorithms_data,
    verify_auth,
};
use control::pki::load::{
    load_certificates, load_private_key, load_trustpoint, parse_certificates, parse_private_key,
};
use control::pki::{
    AltName, AuthError, AuthSignature, CertRequest, Certificate, ChainError, Credential,
    CredentialError, HashAlg, IdMatch, KeyError, KeyKind, LoadErrorKind, PrivateKey, SignOptions,
    SignatureError, SignatureScheme, TrustStore, VerifyOptions, select_credential,
};
use control::policy::Trustpoint;
use control::rng::OsRng;
use proptest::prelude::*;

/// 2026-06-01T00:00:00Z: inside every test certificate's validity but the expired one's.
const NOW: u64 = 1_780_272_000;
/// 2023-12-31T00:00:00Z: before every test certificate's notBefore but the expired one's.
const BEFORE: u64 = 1_703_980_800;
/// The test certificates' notBefore and notAfter (2024-01-01, 2044-01-01).
const NOT_BEFORE: u64 = 1_704_067_200;
const NOT_AFTER: u64 = 2_335_219_200;

fn path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pki").join(name)
}

fn cert(name: &str) -> Certificate {
    let mut certs = load_certificates(&path(name)).expect(name);
    assert_eq!(certs.len(), 1, "{name}");
    certs.remove(0)
}

fn key(name: &str) -> PrivateKey {
    load_private_key(&path(name)).expect(name)
}

fn store(names: &[&str]) -> TrustStore {
    let mut s = TrustStore::new();
    for n in names {
        s.add(cert(n)).expect(n);
    }
    s
}

fn message() -> Vec<u8> {
    std::fs::read(path("message.bin")).unwrap()
}

fn subject_of(name: &str) -> String {
    cert(name).subject().to_owned()
}

// ---------------------------------------------------------------------------------------
// Loading

#[test]
fn loads_pem_der_and_bundles() {
    let bundle = load_certificates(&path("ca-bundle.pem")).unwrap();
    assert_eq!(bundle.len(), 2);
    assert!(bundle[0].subject().contains("CN=RSA Root CA"), "{}", bundle[0].subject());
    assert!(bundle[1].subject().contains("CN=ECDSA P-256 Root CA"));
    let chain = load_certificates(&path("rsa-leaf-chain.pem")).unwrap();
    assert_eq!(chain.len(), 2);
    // DER and PEM give the same certificate.
    assert_eq!(cert("rsa-leaf.der"), cert("rsa-leaf.pem"));
    assert_eq!(cert("rsa-int.der"), chain[1]);
    let leaf = cert("rsa-leaf.pem");
    assert_eq!(leaf.version(), 3);
    assert_eq!(leaf.not_before(), NOT_BEFORE);
    assert_eq!(leaf.not_after(), NOT_AFTER);
    assert_eq!(leaf.public_key().unwrap().kind(), KeyKind::Rsa { bits: 2048 });
    assert!(!leaf.is_ca());
    assert!(cert("rsa-int.pem").is_ca());
    assert_eq!(cert("rsa-int.pem").basic_constraints(), Some((true, Some(0))));
    assert_eq!(
        leaf.alt_names().cloned().collect::<Vec<_>>(),
        [
            AltName::Ip("192.0.2.1".parse().unwrap()),
            AltName::Dns("gw1.example.test".into()),
            AltName::Rfc822("gw1@example.test".into()),
        ]
    );
    // GeneralizedTime notAfter (2060-01-01).
    assert_eq!(cert("ecp384-ca.pem").not_after(), 2_840_140_800);
}

#[test]
fn loads_every_private_key_format() {
    let cases = [
        ("rsa-leaf.key.pem", "rsa-leaf.pem"),
        ("rsa-leaf.pk8.pem", "rsa-leaf.pem"),
        ("ecp256-leaf.key.pem", "ecp256-leaf.pem"),
        ("ecp256-leaf.pk8.pem", "ecp256-leaf.pem"),
        ("ecp256-leaf.pk8.der", "ecp256-leaf.pem"),
        ("ecp384-leaf.key.pem", "ecp384-leaf.pem"),
        ("ecp384-leaf.pk8.pem", "ecp384-leaf.pem"),
    ];
    for (k, c) in cases {
        let key = key(k);
        let cert = cert(c);
        assert_eq!(&key.public_key(), cert.public_key().unwrap(), "{k}");
        assert_eq!(key.kind(), cert.public_key().unwrap().kind());
        // Debug never shows key material.
        let dbg = format!("{key:?}");
        assert!(dbg.contains("redacted") && dbg.len() < 64, "{dbg}");
        Credential::new(cert, vec![], key).unwrap();
    }
    // DER forms of the PEM keys parse through the format-sniffing entry point.
    let pem = std::fs::read_to_string(path("rsa-leaf.key.pem")).unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64_decode(&b64);
    assert_eq!(
        PrivateKey::from_der(&der).unwrap().public_key(),
        key("rsa-leaf.pk8.pem").public_key()
    );
}

/// A tiny standard-alphabet base64 decoder, so the test does not need a crate for it.
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::new();
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= u32::from(val(c)) << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

#[test]
fn load_errors_name_the_file() {
    let e = load_private_key(&path("rsa-leaf.pem")).unwrap_err();
    assert_eq!(e.kind, LoadErrorKind::KeyCount(0));
    assert!(e.to_string().contains("rsa-leaf.pem"), "{e}");
    let e = load_certificates(&path("rsa-leaf.key.pem")).unwrap_err();
    assert_eq!(e.kind, LoadErrorKind::NoCertificate);
    assert!(e.to_string().contains("rsa-leaf.key.pem: no certificate found"), "{e}");
    let e = load_certificates(&path("missing.pem")).unwrap_err();
    assert!(matches!(e.kind, LoadErrorKind::Io(_)));
    assert!(e.to_string().contains("missing.pem: cannot read"), "{e}");
    let e = parse_certificates("mine.der", &[0x30, 0x03, 0x02, 0x01, 0x00]).unwrap_err();
    assert!(matches!(e.kind, LoadErrorKind::Certificate { index: 0, .. }), "{e}");
    let encrypted =
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let e = parse_private_key("enc.pem", encrypted).unwrap_err();
    assert_eq!(e.kind, LoadErrorKind::Key(KeyError::Encrypted));
    let legacy = b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nMAA=\n-----END RSA PRIVATE KEY-----\n";
    assert!(matches!(
        parse_private_key("old.pem", legacy).unwrap_err().kind,
        LoadErrorKind::Pem(_)
    ));
    // A key that is not the certificate's.
    let e = Credential::new(cert("rsa-leaf.pem"), vec![], key("ecp256-leaf.key.pem")).unwrap_err();
    assert!(matches!(e, CredentialError::KeyMismatch(_)));
    // A leaf is no CA.
    let e = TrustStore::new().add(cert("rsa-leaf.pem")).unwrap_err();
    assert!(matches!(e, ChainError::NotCa { .. }));
}

#[test]
fn loads_a_policy_trustpoint() {
    let tp = Trustpoint {
        name: "TP-RSA".into(),
        ca_certificates: vec![path("ca-bundle.pem")],
        certificate: Some(path("rsa-leaf-chain.pem")),
        private_key: Some(path("rsa-leaf.key.pem")),
    };
    let loaded = load_trustpoint(&tp).unwrap();
    assert_eq!(loaded.name, "TP-RSA");
    assert_eq!(loaded.store.anchors().len(), 2);
    let cred = loaded.credential.unwrap();
    assert_eq!(cred.certificate(), &cert("rsa-leaf.pem"));
    assert_eq!(cred.intermediates(), &[cert("rsa-int.pem")]);
    // Our own CERT payloads validate against our own CAs.
    let chain = loaded.store.validate_payloads(&cred.cert_payloads(), NOW).unwrap();
    assert_eq!(chain.anchor(), &cert("rsa-ca.pem"));
    // The intermediate's key and the root's are the CAs we answer CERTREQs for.
    let hashes = cred.authority_hashes();
    assert!(hashes.contains(cert("rsa-int.pem").spki_sha1()));
    assert!(hashes.contains(cert("rsa-ca.pem").spki_sha1()));
    assert!(!hashes.contains(cert("ecp256-ca.pem").spki_sha1()));

    let bad = Trustpoint { ca_certificates: vec![path("rsa-leaf.pem")], ..tp.clone() };
    let e = load_trustpoint(&bad).unwrap_err();
    assert!(matches!(e.kind, LoadErrorKind::Ca(ChainError::NotCa { .. })), "{e}");
    let mismatched = Trustpoint { private_key: Some(path("ecp256-leaf.key.pem")), ..tp };
    let e = load_trustpoint(&mismatched).unwrap_err();
    assert!(matches!(e.kind, LoadErrorKind::Credential(_)), "{e}");
    assert!(e.to_string().contains("rsa-leaf-chain.pem"), "{e}");
}

// ---------------------------------------------------------------------------------------
// Chain validation

fn der(name: &str) -> Vec<u8> {
    cert(name).der().to_vec()
}

#[test]
fn valid_chains() {
    let s = store(&["rsa-ca.pem", "ecp256-ca.pem", "ecp384-ca.pem"]);
    // RSA leaf via the intermediate, with unrelated certificates in the way.
    let chain = s
        .validate_der(
            &der("rsa-leaf.pem"),
            &[&der("ecp256-leaf.pem"), &der("unknown-ca.pem"), &der("rsa-int.pem")],
            NOW,
        )
        .unwrap();
    assert_eq!(chain.end_entity(), &cert("rsa-leaf.pem"));
    assert_eq!(chain.intermediates(), &[cert("rsa-int.pem")]);
    assert_eq!(chain.anchor(), &cert("rsa-ca.pem"));
    assert_eq!(chain.public_key().kind(), KeyKind::Rsa { bits: 2048 });
    // The intermediate's link is RSA-PSS with SHA-384 for this one.
    assert_eq!(
        cert("rsa-pss-leaf.pem").signature_scheme(),
        Ok(SignatureScheme::rsa_pss(HashAlg::Sha384))
    );
    s.validate_der(&der("rsa-pss-leaf.pem"), &[&der("rsa-int.pem")], NOW).unwrap();
    // strongSwan encoded that identifier exactly as we do.
    let alg = SignatureScheme::rsa_pss(HashAlg::Sha384).algorithm_identifier();
    assert!(der("rsa-pss-leaf.pem").windows(alg.len()).any(|w| w == alg));
    // ECDSA P-256 and P-384, directly under their roots.
    let c = s.validate_der(&der("ecp256-leaf.pem"), &[], NOW).unwrap();
    assert_eq!(c.anchor(), &cert("ecp256-ca.pem"));
    assert_eq!(c.public_key().kind(), KeyKind::EcP256);
    let c = s.validate_der(&der("ecp384-leaf.pem"), &[], NOW).unwrap();
    assert_eq!(c.public_key().kind(), KeyKind::EcP384);
    // The boundaries of the validity period are inside it.
    s.validate_der(&der("ecp256-leaf.pem"), &[], NOT_BEFORE).unwrap();
    s.validate_der(&der("ecp256-leaf.pem"), &[], NOT_AFTER).unwrap();
    // As CERT payloads: first X.509 is the end entity; other encodings are skipped.
    let payloads = [
        CertRepr { encoding: CertEncoding::X509Signature, data: der("rsa-leaf.pem") },
        CertRepr { encoding: CertEncoding::Crl, data: vec![0x30, 0x00] },
        CertRepr { encoding: CertEncoding::X509Signature, data: der("rsa-int.pem") },
    ];
    let c = s.validate_payloads(&payloads, NOW).unwrap();
    assert_eq!(c.end_entity(), &cert("rsa-leaf.pem"));
    // The peer may also send the root itself.
    s.validate_der(&der("rsa-leaf.pem"), &[&der("rsa-ca.pem"), &der("rsa-int.pem")], NOW).unwrap();
}

#[test]
fn each_chain_error() {
    let s = store(&["rsa-ca.pem", "ecp256-ca.pem"]);
    let v = |leaf: &str, inter: &[&str], now| {
        let inter: Vec<Vec<u8>> = inter.iter().map(|n| der(n)).collect();
        let refs: Vec<&[u8]> = inter.iter().map(Vec::as_slice).collect();
        s.validate_der(&der(leaf), &refs, now).map(|_| ())
    };
    assert_eq!(
        v("expired-leaf.pem", &[], NOW),
        Err(ChainError::Expired {
            subject: subject_of("expired-leaf.pem"),
            not_after: 1_609_459_200
        })
    );
    assert_eq!(
        v("ecp256-leaf.pem", &[], BEFORE),
        Err(ChainError::NotYetValid {
            subject: subject_of("ecp256-leaf.pem"),
            not_before: NOT_BEFORE
        })
    );
    assert_eq!(
        v("rsa-leaf.pem", &["rsa-int.pem"], NOT_AFTER + 1),
        Err(ChainError::Expired { subject: subject_of("rsa-leaf.pem"), not_after: NOT_AFTER })
    );
    assert_eq!(
        v("unknown-leaf.pem", &[], NOW),
        Err(ChainError::UnknownCa { issuer: subject_of("unknown-ca.pem") })
    );
    // Without its intermediate the RSA leaf's issuer is unknown.
    assert_eq!(
        v("rsa-leaf.pem", &[], NOW),
        Err(ChainError::UnknownCa { issuer: subject_of("rsa-int.pem") })
    );
    // The unknown CA sent along does not help: it is not trusted.
    assert_eq!(
        v("unknown-leaf.pem", &["unknown-ca.pem"], NOW),
        Err(ChainError::UnknownCa { issuer: subject_of("unknown-ca.pem") })
    );
    assert_eq!(
        v("not-ca-child.pem", &["rsa-leaf.pem", "rsa-int.pem"], NOW),
        Err(ChainError::NotCa { subject: subject_of("rsa-leaf.pem") })
    );
    assert_eq!(
        v("nods-leaf.pem", &[], NOW),
        Err(ChainError::KeyUsage {
            subject: subject_of("nods-leaf.pem"),
            needed: "digitalSignature"
        })
    );
    assert_eq!(
        v("critext-leaf.pem", &[], NOW),
        Err(ChainError::UnhandledCriticalExtension {
            subject: subject_of("critext-leaf.pem"),
            oid: "1.3.6.1.4.1.55555.1".into()
        })
    );
    assert_eq!(
        v("rsa-sub-leaf.pem", &["rsa-sub.pem", "rsa-int.pem"], NOW),
        Err(ChainError::PathLength { subject: subject_of("rsa-int.pem") })
    );
    // A bit flipped in the leaf's signature, then in its TBSCertificate (the SAN address).
    let mut forged = der("ecp256-leaf.pem");
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_eq!(
        s.validate_der(&forged, &[], NOW).map(|_| ()),
        Err(ChainError::BadSignature { subject: subject_of("ecp256-leaf.pem") })
    );
    let mut forged = der("ecp256-leaf.pem");
    let at = forged.windows(4).position(|w| w == [192, 0, 2, 2]).unwrap();
    forged[at + 3] = 3;
    assert_eq!(
        s.validate_der(&forged, &[], NOW).map(|_| ()),
        Err(ChainError::BadSignature { subject: subject_of("ecp256-leaf.pem") })
    );
    // RSA link forged too.
    let mut forged = der("rsa-leaf.pem");
    let at = forged.windows(4).position(|w| w == [192, 0, 2, 1]).unwrap();
    forged[at + 3] = 7;
    assert!(matches!(
        s.validate_der(&forged, &[&der("rsa-int.pem")], NOW),
        Err(ChainError::BadSignature { .. })
    ));
    // Garbage among the intermediates is reported with its position.
    assert!(matches!(
        s.validate_der(&der("rsa-leaf.pem"), &[&der("rsa-int.pem"), &[0x30, 0x00]], NOW),
        Err(ChainError::Malformed { index: 2, .. })
    ));
    assert_eq!(s.validate_payloads(&[], NOW).map(|_| ()), Err(ChainError::NoCertificate));
    let many: Vec<&[u8]> = vec![&[0x30]; 17];
    assert_eq!(
        s.validate_der(&der("rsa-leaf.pem"), &many, NOW).map(|_| ()),
        Err(ChainError::TooManyCertificates(17))
    );
    // An empty store trusts nothing.
    assert!(matches!(
        TrustStore::new().validate_der(&der("ecp256-leaf.pem"), &[], NOW),
        Err(ChainError::UnknownCa { .. })
    ));
}

#[test]
fn loops_and_floods_terminate() {
    let s = store(&["rsa-ca.pem", "ecp256-ca.pem"]);
    let x = der("loop-x.pem");
    let y = der("loop-y.pem");
    // X is issued by Y and Y by X: the walk uses each once, then finds no trusted issuer.
    let r = s.validate_der(&der("loop-leaf.pem"), &[&x, &y], NOW);
    assert!(matches!(r, Err(ChainError::UnknownCa { .. })), "{r:?}");
    // Sixteen copies: duplicates are dropped, so the answer is the same.
    let mut flood: Vec<&[u8]> = Vec::new();
    for _ in 0..8 {
        flood.push(&x);
        flood.push(&y);
    }
    assert_eq!(
        s.validate_der(&der("loop-leaf.pem"), &flood, NOW).map(|_| ()),
        Err(ChainError::UnknownCa { issuer: subject_of("loop-x.pem") })
    );
    // Four "Loop X" and four "Loop Y" certificates, all validly cross-signed: hundreds of
    // paths, none anchored. The depth and work limits end the walk.
    let more = load_certificates(&path("loop-more.pem")).unwrap();
    assert_eq!(more.len(), 6);
    let mut dense = vec![cert("loop-x.pem"), cert("loop-y.pem")];
    dense.extend(more);
    let r = s.validate(&cert("loop-leaf.pem"), &dense, NOW);
    assert!(matches!(r, Err(ChainError::PathTooLong | ChainError::SearchLimit)), "{r:?}");
    // Sixteen distinct copies of the intermediate, each with its own signature broken: every
    // one signed the leaf (same key), none is signed by the root. Each link is checked once.
    let int = der("rsa-int.pem");
    let forged: Vec<Vec<u8>> = (0..16u8)
        .map(|i| {
            let mut d = int.clone();
            let last = d.len() - 1 - usize::from(i);
            d[last] ^= 0x55;
            d
        })
        .collect();
    let refs: Vec<&[u8]> = forged.iter().map(Vec::as_slice).collect();
    assert_eq!(
        s.validate_der(&der("rsa-leaf.pem"), &refs, NOW).map(|_| ()),
        Err(ChainError::BadSignature { subject: subject_of("rsa-int.pem") })
    );
}

// ---------------------------------------------------------------------------------------
// Identities

#[test]
fn identity_matching() {
    let rsa = cert("rsa-leaf.pem");
    let ec = cert("ecp256-leaf.pem");
    let v4 = |s: &str| IdRepr::ipv4(s.parse().unwrap());
    let v6 = |s: &str| IdRepr::ipv6(s.parse().unwrap());
    assert_eq!(rsa.match_id(&v4("192.0.2.1")), IdMatch::Match);
    assert_eq!(rsa.match_id(&v4("192.0.2.2")), IdMatch::Mismatch);
    assert_eq!(ec.match_id(&v4("192.0.2.2")), IdMatch::Match);
    assert_eq!(ec.match_id(&v6("2001:db8::2")), IdMatch::Match);
    assert_eq!(ec.match_id(&v6("2001:db8::1")), IdMatch::Mismatch);
    // The RSA leaf has no IPv6 address: nothing to check an IPv6 identity against.
    assert_eq!(rsa.match_id(&v6("2001:db8::2")), IdMatch::NotApplicable);
    assert_eq!(rsa.match_id(&IdRepr::fqdn("gw1.example.test")), IdMatch::Match);
    assert_eq!(rsa.match_id(&IdRepr::fqdn("GW1.Example.Test")), IdMatch::Match);
    assert_eq!(rsa.match_id(&IdRepr::fqdn("gw2.example.test")), IdMatch::Mismatch);
    assert_eq!(rsa.match_id(&IdRepr::fqdn("example.test")), IdMatch::Mismatch);
    assert_eq!(rsa.match_id(&IdRepr::rfc822("gw1@example.test")), IdMatch::Match);
    assert_eq!(rsa.match_id(&IdRepr::rfc822("gw1@EXAMPLE.test")), IdMatch::Match);
    assert_eq!(rsa.match_id(&IdRepr::rfc822("gw2@example.test")), IdMatch::Mismatch);
    assert_eq!(ec.match_id(&IdRepr::rfc822("gw2@example.test")), IdMatch::NotApplicable);
    // DN: the subject's DER, octet for octet.
    assert_eq!(rsa.match_id(&rsa.subject_id()), IdMatch::Match);
    assert_eq!(rsa.match_id(&ec.subject_id()), IdMatch::Mismatch);
    let dn = IdRepr { id_type: IdType::DerAsn1Dn, data: rsa.subject_der().to_vec() };
    assert_eq!(rsa.match_id(&dn), IdMatch::Match);
    let mut truncated = dn.clone();
    truncated.data.pop();
    assert_eq!(rsa.match_id(&truncated), IdMatch::Mismatch);
    // GN: a DER GeneralName, dNSName [2] here.
    let mut gn = vec![0x82, 16];
    gn.extend_from_slice(b"gw1.example.test");
    let gn = IdRepr { id_type: IdType::DerAsn1Gn, data: gn };
    assert_eq!(rsa.match_id(&gn), IdMatch::Match);
    assert_eq!(ec.match_id(&gn), IdMatch::Mismatch);
    let key_id = IdRepr { id_type: IdType::KeyId, data: b"gw1".to_vec() };
    assert_eq!(rsa.match_id(&key_id), IdMatch::NotApplicable);
    let bad_v4 = IdRepr { id_type: IdType::Ipv4Addr, data: vec![192, 0, 2] };
    assert_eq!(rsa.match_id(&bad_v4), IdMatch::Mismatch);
}

// ---------------------------------------------------------------------------------------
// AUTH signatures

/// Signs and verifies through the wire encoding, as IKE_AUTH will.
fn round_trip(k: &PrivateKey, how: AuthSignature, opts: &SignOptions) -> AuthRepr {
    let octets = b"RealMessage | Nonce | prf(SK_p, IDx')";
    let auth = sign_auth(k, how, octets, opts, &mut OsRng).unwrap();
    assert_eq!(auth.method, how.method());
    let wire = AuthRepr::parse(&auth.to_vec().unwrap()).unwrap();
    assert_eq!(wire, auth);
    let pubkey = k.public_key();
    assert_eq!(verify_auth(&pubkey, &wire, octets, &VerifyOptions::default()), Ok(how));
    let r = verify_auth(&pubkey, &wire, b"other octets", &VerifyOptions::default());
    assert_eq!(r, Err(AuthError::Signature(SignatureError::BadSignature)), "{how:?}");
    auth
}

#[test]
fn method_14_round_trips() {
    let rsa = key("rsa-leaf.key.pem");
    let p256 = key("ecp256-leaf.key.pem");
    let p384 = key("ecp384-leaf.pk8.pem");
    let opts = SignOptions::default();
    for h in [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512] {
        let a =
            round_trip(&rsa, AuthSignature::DigitalSignature(SignatureScheme::RsaPkcs1(h)), &opts);
        assert_eq!(a.data.len(), 256);
        round_trip(&rsa, AuthSignature::DigitalSignature(SignatureScheme::rsa_pss(h)), &opts);
        round_trip(&p256, AuthSignature::DigitalSignature(SignatureScheme::Ecdsa(h)), &opts);
        round_trip(&p384, AuthSignature::DigitalSignature(SignatureScheme::Ecdsa(h)), &opts);
    }
    // RFC 7427 layout: the AlgorithmIdentifier, then a DER ECDSA-Sig-Value.
    let a = round_trip(
        &p256,
        AuthSignature::DigitalSignature(SignatureScheme::Ecdsa(HashAlg::Sha256)),
        &opts,
    );
    assert_eq!(
        a.algorithm_identifier.as_deref(),
        Some(&[0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02][..])
    );
    assert_eq!(a.data[0], 0x30);
}

#[test]
fn legacy_methods() {
    let rsa = key("rsa-leaf.key.pem");
    let p256 = key("ecp256-leaf.pk8.der");
    let p384 = key("ecp384-leaf.key.pem");
    let opts = SignOptions::default();
    // RFC 4754: fixed-length r || s.
    assert_eq!(round_trip(&p256, AuthSignature::EcdsaP256Sha256, &opts).data.len(), 64);
    assert_eq!(round_trip(&p384, AuthSignature::EcdsaP384Sha384, &opts).data.len(), 96);
    // Method 1 is produced only when allowed, and verified unless refused.
    let octets = b"octets";
    assert_eq!(
        sign_auth(&rsa, AuthSignature::RsaSha1, octets, &opts, &mut OsRng),
        Err(AuthError::RsaSha1Disabled)
    );
    let allow = SignOptions { allow_rsa_sha1: true, ..opts };
    let a = round_trip(&rsa, AuthSignature::RsaSha1, &allow);
    assert_eq!(a.method, AuthMethod::RsaSig);
    let strict = VerifyOptions { accept_rsa_sha1: false };
    assert_eq!(
        verify_auth(&rsa.public_key(), &a, b"RealMessage | Nonce | prf(SK_p, IDx')", &strict),
        Err(AuthError::RsaSha1Disabled)
    );
    // RFC 4754 ties the method to the curve.
    assert!(matches!(
        sign_auth(&p384, AuthSignature::EcdsaP256Sha256, octets, &opts, &mut OsRng),
        Err(AuthError::KeyMismatch { .. })
    ));
    let a = sign_auth(&p256, AuthSignature::EcdsaP256Sha256, octets, &opts, &mut OsRng).unwrap();
    assert!(matches!(
        verify_auth(&p384.public_key(), &a, octets, &VerifyOptions::default()),
        Err(AuthError::KeyMismatch { .. })
    ));
    // An RSA signature against an EC key, and another key of the same type.
    let a = sign_auth(
        &rsa,
        AuthSignature::DigitalSignature(SignatureScheme::RsaPkcs1(HashAlg::Sha256)),
        octets,
        &opts,
        &mut OsRng,
    )
    .unwrap();
    assert!(matches!(
        verify_auth(&p256.public_key(), &a, octets, &VerifyOptions::default()),
        Err(AuthError::KeyMismatch { .. })
    ));
    let other_rsa = cert("rsa-pss-leaf.pem");
    assert_eq!(
        verify_auth(other_rsa.public_key().unwrap(), &a, octets, &VerifyOptions::default()),
        Err(AuthError::Signature(SignatureError::BadSignature))
    );
    // PSK and NULL are no signature methods; SHA-1 is refused inside method 14.
    let psk =
        AuthRepr { method: AuthMethod::SharedKeyMic, algorithm_identifier: None, data: vec![1] };
    assert_eq!(
        verify_auth(&rsa.public_key(), &psk, octets, &VerifyOptions::default()),
        Err(AuthError::UnsupportedMethod(AuthMethod::SharedKeyMic))
    );
    let sha1_14 = AuthRepr {
        method: AuthMethod::DigitalSignature,
        algorithm_identifier: Some(SignatureScheme::RsaPkcs1(HashAlg::Sha1).algorithm_identifier()),
        data: vec![0; 256],
    };
    assert_eq!(
        verify_auth(&rsa.public_key(), &sha1_14, octets, &VerifyOptions::default()),
        Err(AuthError::Signature(SignatureError::WeakHash))
    );
}

#[test]
fn choosing_the_method() {
    let rsa = key("rsa-leaf.key.pem");
    let p256 = key("ecp256-leaf.key.pem");
    let p384 = key("ecp384-leaf.key.pem");
    let opts = SignOptions::default();
    assert_eq!(signature_hash_algorithms_data(), [0, 2, 0, 3, 0, 4]);
    let all = peer_signature_hashes(&[1, 2, 3, 4]);
    let ds = AuthSignature::DigitalSignature;
    assert_eq!(
        choose_auth_signature(&rsa, &all, &opts),
        Ok(ds(SignatureScheme::RsaPkcs1(HashAlg::Sha256)))
    );
    let pss = SignOptions { rsa_pss: true, ..opts };
    assert_eq!(
        choose_auth_signature(&rsa, &all, &pss),
        Ok(ds(SignatureScheme::rsa_pss(HashAlg::Sha256)))
    );
    assert_eq!(
        choose_auth_signature(&p256, &all, &opts),
        Ok(ds(SignatureScheme::Ecdsa(HashAlg::Sha256)))
    );
    assert_eq!(
        choose_auth_signature(&p384, &all, &opts),
        Ok(ds(SignatureScheme::Ecdsa(HashAlg::Sha384)))
    );
    // Only a hash the peer listed; never SHA-1.
    let only512 = peer_signature_hashes(&[4]);
    assert_eq!(
        choose_auth_signature(&p256, &only512, &opts),
        Ok(ds(SignatureScheme::Ecdsa(HashAlg::Sha512)))
    );
    let only_sha1 = peer_signature_hashes(&[1]);
    assert_eq!(choose_auth_signature(&p256, &only_sha1, &opts), Ok(AuthSignature::EcdsaP256Sha256));
    // No RFC 7427 peer: RFC 4754 for EC, method 1 for RSA only if allowed.
    assert_eq!(choose_auth_signature(&p384, &[], &opts), Ok(AuthSignature::EcdsaP384Sha384));
    assert_eq!(
        choose_auth_signature(&rsa, &[], &opts),
        Err(AuthError::NoCommonMethod(KeyKind::Rsa { bits: 2048 }))
    );
    let allow = SignOptions { allow_rsa_sha1: true, ..opts };
    assert_eq!(choose_auth_signature(&rsa, &[], &allow), Ok(AuthSignature::RsaSha1));
}

fn sig(name: &str) -> Vec<u8> {
    std::fs::read(path(name)).unwrap()
}

fn method14(scheme: SignatureScheme, data: Vec<u8>) -> AuthRepr {
    AuthRepr {
        method: AuthMethod::DigitalSignature,
        algorithm_identifier: Some(scheme.algorithm_identifier()),
        data,
    }
}

/// Signatures made by OpenSSL (`openssl dgst -sign`) verify: an independent implementation.
#[test]
fn verifies_openssl_signatures() {
    let msg = message();
    let opts = VerifyOptions::default();
    let rsa = cert("rsa-leaf.pem");
    let rsa = rsa.public_key().unwrap();
    let ok = |key: &control::pki::PublicKey, auth: AuthRepr| {
        verify_auth(key, &auth, &msg, &opts).unwrap();
        let mut bad = msg.clone();
        bad[0] ^= 1;
        assert!(verify_auth(key, &auth, &bad, &opts).is_err());
    };
    ok(rsa, method14(SignatureScheme::RsaPkcs1(HashAlg::Sha256), sig("rsa-leaf.sha256.sig")));
    ok(rsa, method14(SignatureScheme::RsaPkcs1(HashAlg::Sha512), sig("rsa-leaf.sha512.sig")));
    ok(rsa, method14(SignatureScheme::rsa_pss(HashAlg::Sha256), sig("rsa-leaf.pss-sha256.sig")));
    let sha1 = AuthRepr {
        method: AuthMethod::RsaSig,
        algorithm_identifier: None,
        data: sig("rsa-leaf.sha1.sig"),
    };
    ok(rsa, sha1);
    // The wrong hash in the identifier fails.
    let wrong = method14(SignatureScheme::RsaPkcs1(HashAlg::Sha384), sig("rsa-leaf.sha256.sig"));
    assert!(verify_auth(rsa, &wrong, &msg, &opts).is_err());

    let p256 = cert("ecp256-leaf.pem");
    let p256 = p256.public_key().unwrap();
    let der256 = sig("ecp256-leaf.sha256.sig");
    ok(p256, method14(SignatureScheme::Ecdsa(HashAlg::Sha256), der256.clone()));
    // The same signature as RFC 4754 r || s (method 9).
    let raw = p256::ecdsa::Signature::from_der(&der256).unwrap().to_bytes().to_vec();
    ok(
        p256,
        AuthRepr { method: AuthMethod::EcdsaSha256P256, algorithm_identifier: None, data: raw },
    );
    let p384 = cert("ecp384-leaf.pem");
    let p384 = p384.public_key().unwrap();
    let der384 = sig("ecp384-leaf.sha384.sig");
    ok(p384, method14(SignatureScheme::Ecdsa(HashAlg::Sha384), der384.clone()));
    let raw = p384::ecdsa::Signature::from_der(&der384).unwrap().to_bytes().to_vec();
    ok(
        p384,
        AuthRepr { method: AuthMethod::EcdsaSha384P384, algorithm_identifier: None, data: raw },
    );
}

// ---------------------------------------------------------------------------------------
// CERTREQ

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn certreq_hashes_and_selection() {
    // Our hashes equal OpenSSL's SHA-1 over each CA's DER SubjectPublicKeyInfo.
    for ca in ["rsa-ca", "ecp256-ca", "ecp384-ca"] {
        let want = std::fs::read_to_string(path(&format!("{ca}.spki-sha1.txt"))).unwrap();
        assert_eq!(hex(cert(&format!("{ca}.pem")).spki_sha1()), want.trim(), "{ca}");
    }
    let s = store(&["rsa-ca.pem", "ecp256-ca.pem"]);
    let req = s.certreq();
    assert_eq!(req.encoding, CertEncoding::X509Signature);
    let mut want = cert("rsa-ca.pem").spki_sha1().to_vec();
    want.extend_from_slice(cert("ecp256-ca.pem").spki_sha1());
    assert_eq!(req.authorities, want);
    // Through the wire and back.
    let req = CertReqRepr::parse(&req.to_vec().unwrap()).unwrap();
    let parsed = CertRequest::from_payloads(&[req]);
    assert_eq!(s.requested_anchors(&parsed).len(), 2);

    let mut rsa =
        Credential::new(cert("rsa-leaf.pem"), vec![cert("rsa-int.pem")], key("rsa-leaf.pk8.pem"))
            .unwrap();
    rsa.link_anchors(&s);
    let mut ec =
        Credential::new(cert("ecp256-leaf.pem"), vec![], key("ecp256-leaf.key.pem")).unwrap();
    ec.link_anchors(&s);
    let creds = [rsa, ec];
    let ask = |hashes: &[&[u8; 20]]| {
        let authorities = hashes.iter().flat_map(|h| h.iter().copied()).collect();
        CertRequest::from_payloads(&[CertReqRepr {
            encoding: CertEncoding::X509Signature,
            authorities,
        }])
    };
    let for_ec = ask(&[cert("unknown-ca.pem").spki_sha1(), cert("ecp256-ca.pem").spki_sha1()]);
    assert_eq!(select_credential(&creds, &for_ec).unwrap().certificate(), &cert("ecp256-leaf.pem"));
    assert_eq!(s.requested_anchors(&for_ec), [&cert("ecp256-ca.pem")]);
    let for_rsa = ask(&[cert("rsa-ca.pem").spki_sha1()]);
    assert_eq!(select_credential(&creds, &for_rsa).unwrap().certificate(), &cert("rsa-leaf.pem"));
    // Asking for the intermediate also selects the RSA credential.
    let for_int = ask(&[cert("rsa-int.pem").spki_sha1()]);
    assert_eq!(select_credential(&creds, &for_int).unwrap().certificate(), &cert("rsa-leaf.pem"));
    assert!(select_credential(&creds, &ask(&[cert("unknown-ca.pem").spki_sha1()])).is_none());
    // An empty X.509 list means any CA; other encodings and ragged lists are ignored.
    let any = ask(&[]);
    assert!(any.any_ca && !any.is_empty());
    assert!(select_credential(&creds, &any).is_some());
    let ignored = CertRequest::from_payloads(&[
        CertReqRepr { encoding: CertEncoding::Pgp, authorities: vec![] },
        CertReqRepr { encoding: CertEncoding::X509Signature, authorities: vec![1; 30] },
    ]);
    assert!(ignored.is_empty());
    assert!(select_credential(&creds, &ignored).is_none());
    // The CERT payloads of a credential: ours first, then the intermediates.
    let payloads = creds[0].cert_payloads();
    assert_eq!(payloads.len(), 2);
    assert_eq!(payloads[0].data, der("rsa-leaf.pem"));
    assert_eq!(payloads[1].data, der("rsa-int.pem"));
}

// ---------------------------------------------------------------------------------------
// Hostile input

fn real_ders() -> Vec<Vec<u8>> {
    ["rsa-leaf.pem", "rsa-int.pem", "ecp256-leaf.pem", "ecp384-ca.pem", "rsa-pss-leaf.pem"]
        .iter()
        .map(|n| der(n))
        .collect()
}

fn key_ders() -> Vec<Vec<u8>> {
    vec![
        std::fs::read(path("ecp256-leaf.pk8.der")).unwrap(),
        base64_decode(
            &std::fs::read_to_string(path("ecp384-leaf.key.pem"))
                .unwrap()
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        ),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
    Remove(usize),
}

fn mutate(mut d: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        if d.is_empty() {
            break;
        }
        let n = d.len();
        match *m {
            Mutation::Flip(i, x) => d[i % n] ^= x.max(1),
            Mutation::Truncate(i) => d.truncate(i % n),
            Mutation::Insert(i, b) => d.insert(i % (n + 1), b),
            Mutation::Remove(i) => {
                d.remove(i % n);
            }
        }
    }
    d
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random bytes never panic any parser or verifier.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Certificate::from_der(&bytes);
        let _ = PrivateKey::from_der(&bytes);
        let _ = control::pki::PublicKey::from_spki_der(&bytes);
        let _ = SignatureScheme::from_algorithm_identifier(&bytes);
        let _ = parse_certificates("fuzz", &bytes);
        let _ = parse_private_key("fuzz", &bytes);
        let s = store(&["ecp256-ca.pem"]);
        let _ = s.validate_der(&bytes, &[&bytes], NOW);
        let key = cert("ecp256-leaf.pem");
        let key = key.public_key().unwrap();
        for method in [1u8, 9, 10, 11, 14, 2, 0] {
            let mut body = vec![method, 0, 0, 0];
            body.extend_from_slice(&bytes);
            if let Ok(auth) = AuthRepr::parse(&body) {
                prop_assert!(verify_auth(key, &auth, b"x", &VerifyOptions::default()).is_err());
            }
        }
    }

    /// Mutated real certificates never panic, and validate only if unchanged.
    #[test]
    fn mutated_certificates(which in 0usize..5, muts in proptest::collection::vec(mutation(), 1..4)) {
        let ders = real_ders();
        let original = ders[which].clone();
        let d = mutate(original.clone(), &muts);
        let s = store(&["rsa-ca.pem", "ecp256-ca.pem", "ecp384-ca.pem"]);
        let int = der("rsa-int.pem");
        if let Ok(c) = Certificate::from_der(&d) {
            let _ = c.match_id(&IdRepr::fqdn("gw1.example.test"));
            let _ = c.signature_scheme();
        }
        // (The CA certificates among them fail as end entities anyway: no digitalSignature.)
        let r = s.validate_der(&d, &[&int], NOW);
        if d != original {
            prop_assert!(r.is_err(), "a mutated certificate validated");
        }
        // Mutated intermediates never validate a chain that needs them.
        let r = s.validate_der(&ders[0], &[&d], NOW);
        if which == 1 && d != original {
            prop_assert!(r.is_err());
        }
        // As PEM text too.
        let pem = format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", b64(&d));
        let _ = parse_certificates("fuzz.pem", mutate(pem.into_bytes(), &muts).as_slice());
    }

    /// Mutated private keys and AUTH payloads never panic.
    #[test]
    fn mutated_keys_and_auth(which in 0usize..2, muts in proptest::collection::vec(mutation(), 1..4)) {
        let k = mutate(key_ders()[which].clone(), &muts);
        let _ = PrivateKey::from_der(&k);
        let _ = PrivateKey::from_pkcs8_der(&k);
        let _ = PrivateKey::from_sec1_der(&k);
        let _ = PrivateKey::from_pkcs1_der(&k);
        let rsa = cert("rsa-leaf.pem");
        let auth = method14(SignatureScheme::rsa_pss(HashAlg::Sha256), sig("rsa-leaf.pss-sha256.sig"));
        let body = mutate(auth.to_vec().unwrap(), &muts);
        if let Ok(a) = AuthRepr::parse(&body) {
            let r = verify_auth(rsa.public_key().unwrap(), &a, &message(), &VerifyOptions::default());
            if a != auth {
                prop_assert!(r.is_err(), "a mutated AUTH verified");
            }
        }
    }
}

/// Standard base64 in 64-column lines, as PEM has it.
fn b64(d: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in d.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out.as_bytes()
        .chunks(64)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}
