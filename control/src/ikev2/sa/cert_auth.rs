//! The certificate side of IKE_AUTH (RFC 7296 sections 2.15, 3.6, 3.7; RFC 7427): checking
//! a peer's CERT payloads, identity and signature AUTH, and making our own signature AUTH
//! with the credential the peer's CERTREQ asks for.
//!
//! Every refusal is a sentence for [`FailureCause::AuthenticationFailed`]
//! (super::FailureCause::AuthenticationFailed) that starts with what failed, so logs and
//! the failover logic's operators can tell an expired certificate from an unknown CA, an
//! identity mismatch or a bad signature:
//!
//! - `certificate rejected: ...` (the [`ChainError`](crate::pki::ChainError): expired, not
//!   yet valid, issuer not a trusted CA, bad certificate signature, no certificate, ...);
//! - `identity ... does not match certificate ...` / `... is not named by certificate ...`;
//! - `AUTH signature ... does not verify: ...`;
//! - `auth method ... instead of a certificate signature`.

use rand_core::CryptoRng;

use crate::ikev2::wire::{AuthMethod, AuthRepr, CertRepr, IdRepr, IdType, Payload, PayloadBody};
use crate::pki::auth::{choose_auth_signature, sign_auth, signed_octets};
use crate::pki::{CertRequest, Credential, HashAlg, IdMatch, select_credential};
use crate::time::Time;

use super::auth::{AuthVerified, SignedOctets, verify_signature};
use super::config::{LocalCertificate, PeerCertificate, PeerIdCheck};
use super::events::AuthInfo;
use crate::crypto::PrfAlg;

/// The AUTH methods a certificate-authenticated peer may use.
fn is_signature_method(m: AuthMethod) -> bool {
    matches!(
        m,
        AuthMethod::RsaSig
            | AuthMethod::EcdsaSha256P256
            | AuthMethod::EcdsaSha384P384
            | AuthMethod::DigitalSignature
    )
}

/// Checks a certificate-authenticated peer: its CERT payloads chain to one of our CAs at the
/// configured wall-clock time, its identity is one its certificate names (per
/// [`PeerIdCheck`]), and its AUTH is a signature of its signed octets by the certificate's
/// key. Returns the proof and how the peer authenticated.
pub(crate) fn verify_peer(
    pc: &PeerCertificate,
    now: Time,
    certs: &[CertRepr],
    id: &IdRepr,
    auth: &AuthRepr,
    octets: &SignedOctets<'_>,
    prf: PrfAlg,
) -> Result<(AuthVerified, AuthInfo), String> {
    if !is_signature_method(auth.method) {
        return Err(format!("auth method {} instead of a certificate signature", auth.method));
    }
    let unix = pc.clock.unix_seconds(now);
    let chain = pc
        .trust
        .validate_payloads(certs, unix)
        .map_err(|e| format!("certificate rejected: {e}"))?;
    let cert = chain.end_entity();
    let matched = cert.match_id(id);
    match (pc.id_check, matched) {
        (PeerIdCheck::NoCheck, _) | (_, IdMatch::Match) => {}
        (PeerIdCheck::IfSupported, IdMatch::NotApplicable) => {}
        (_, IdMatch::Mismatch) => {
            return Err(format!("identity {id} does not match certificate \"{}\"", cert.subject()));
        }
        (PeerIdCheck::Required, IdMatch::NotApplicable) => {
            return Err(format!(
                "identity {id} is not named by certificate \"{}\" (peer-id-validate required)",
                cert.subject()
            ));
        }
    }
    let (token, how) = verify_signature(chain.public_key(), auth, octets, prf, &pc.verify)
        .map_err(|e| format!("AUTH signature of {id} does not verify: {e}"))?;
    tracing::debug!(target: crate::log::IKEV2_PROTOCOL,
        "peer {id} authenticated by certificate \"{}\" under CA \"{}\" ({how:?})",
        cert.subject(), chain.anchor().subject());
    Ok((token, AuthInfo::Certificate { signature: how, subject: cert.subject().to_owned() }))
}

/// Our identity, certificates and signature AUTH.
pub(crate) struct OurSignature {
    /// The identity payload body's contents.
    pub id: IdRepr,
    /// CERT payloads: our certificate, then its intermediates.
    pub certs: Vec<Payload>,
    /// The AUTH payload.
    pub auth: AuthRepr,
    /// What we authenticated with.
    pub info: AuthInfo,
}

/// The credential to use for a peer whose CERTREQ payloads merged into `request`: the first
/// one under a CA it names, else the first (RFC 7296 section 3.7: without a match we may
/// still send ours, and a peer that trusts it through another path can use it).
pub(crate) fn choose_credential<'a>(
    lc: &'a LocalCertificate,
    request: &CertRequest,
) -> Option<&'a Credential> {
    let chosen = select_credential(lc.credentials.iter().map(|c| &**c), request);
    if chosen.is_none() && !request.is_empty() {
        tracing::debug!(target: crate::log::IKEV2_PROTOCOL,
            "no certificate under the CAs the peer asks for; sending the default one");
    }
    chosen.or(lc.credentials.first().map(|c| &**c))
}

/// The identity to send with `credential`'s certificate: the configured `local_id`, unless
/// that is a DN other than the certificate's subject (then the subject: a DN names one
/// certificate, and with several credentials the CERTREQ may pick another).
pub(crate) fn local_id_for(local_id: &IdRepr, credential: &Credential) -> IdRepr {
    let cert = credential.certificate();
    if local_id.id_type == IdType::DerAsn1Dn && cert.match_id(local_id) != IdMatch::Match {
        return cert.subject_id();
    }
    local_id.clone()
}

/// Signs our AUTH: `real_message`, `peer_nonce` and `sk_p` as in
/// [`SignedOctets`], `peer_hashes` from the peer's SIGNATURE_HASH_ALGORITHMS (empty if it
/// sent none). `Err` says why we cannot authenticate.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sign_ours<R: CryptoRng + ?Sized>(
    local_id: &IdRepr,
    lc: &LocalCertificate,
    request: &CertRequest,
    peer_hashes: &[HashAlg],
    prf: PrfAlg,
    real_message: &[u8],
    peer_nonce: &[u8],
    sk_p: &crate::crypto::SecretBytes,
    rng: &mut R,
) -> Result<OurSignature, String> {
    let cred = choose_credential(lc, request).ok_or("no certificate configured")?;
    let id = local_id_for(local_id, cred);
    let id_body = id.to_vec().map_err(|e| format!("local identity cannot be encoded: {e}"))?;
    let octets = signed_octets(prf, real_message, peer_nonce, sk_p, &id_body);
    let key = cred.private_key();
    let how = choose_auth_signature(key, peer_hashes, &lc.sign)
        .map_err(|e| format!("cannot sign our AUTH: {e}"))?;
    let auth = sign_auth(key, how, &octets, &lc.sign, rng)
        .map_err(|e| format!("cannot sign our AUTH: {e}"))?;
    tracing::debug!(target: crate::log::IKEV2_PROTOCOL,
        "authenticating as {id} with certificate \"{}\" ({how:?})", cred.certificate().subject());
    let certs = cred.cert_payloads().into_iter().map(Payload::Cert).collect();
    let info =
        AuthInfo::Certificate { signature: how, subject: cred.certificate().subject().to_owned() };
    Ok(OurSignature { id, certs, auth, info })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::crypto::SecretBytes;
    use crate::pki::load::{parse_certificates, parse_private_key};
    use crate::pki::{AuthSignature, SignOptions, SignatureScheme, TrustStore, VerifyOptions};
    use crate::rng::OsRng;

    use super::super::config::WallClock;

    /// 2030-01-01T00:00:00Z: inside every test certificate's validity but the expired one's.
    const Y2030: u64 = 1_893_456_000;

    macro_rules! pki_file {
        ($name:literal) => {
            include_bytes!(concat!("../../../tests/data/pki/", $name)).as_slice()
        };
    }

    /// A credential linked to its root `ca`, as a trustpoint holding that CA links it.
    fn credential(chain: &[u8], key: &[u8], ca: &[u8]) -> Arc<Credential> {
        let mut certs = parse_certificates("chain", chain).unwrap().into_iter();
        let leaf = certs.next().unwrap();
        let key = parse_private_key("key", key).unwrap();
        let mut cred = Credential::new(leaf, certs.collect(), key).unwrap();
        cred.link_anchors(&peer(ca, PeerIdCheck::Required).trust);
        Arc::new(cred)
    }

    fn rsa() -> Arc<Credential> {
        let (chain, key) = (pki_file!("rsa-leaf-chain.pem"), pki_file!("rsa-leaf.key.pem"));
        credential(chain, key, pki_file!("rsa-ca.pem"))
    }
    fn p256() -> Arc<Credential> {
        let (chain, key) = (pki_file!("ecp256-leaf.pem"), pki_file!("ecp256-leaf.key.pem"));
        credential(chain, key, pki_file!("ecp256-ca.pem"))
    }
    fn p384() -> Arc<Credential> {
        let (chain, key) = (pki_file!("ecp384-leaf.pem"), pki_file!("ecp384-leaf.key.pem"));
        credential(chain, key, pki_file!("ecp384-ca.pem"))
    }

    fn peer(ca: &[u8], id_check: PeerIdCheck) -> PeerCertificate {
        let mut store = TrustStore::new();
        for c in parse_certificates("ca", ca).unwrap() {
            store.add(c).unwrap();
        }
        PeerCertificate {
            trust: Arc::new(store),
            id_check,
            clock: WallClock::Offset(Y2030),
            verify: VerifyOptions::default(),
        }
    }

    const MSG: &[u8] = b"the signer's IKE_SA_INIT message";
    const NONCE: &[u8] = &[0x5a; 32];
    const PRF: PrfAlg = PrfAlg::HmacSha256;
    const ALL: &[HashAlg] = &[HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512];

    /// Signs as `cred` with identity `id`, then checks the result as `pc` would, with the
    /// CERT payloads as sent.
    fn round_trip(
        cred: &Arc<Credential>,
        sign: SignOptions,
        id: &IdRepr,
        hashes: &[HashAlg],
        pc: &PeerCertificate,
    ) -> Result<(AuthInfo, AuthInfo), String> {
        let sk = SecretBytes::from_slice(&[7; 32]);
        let lc = LocalCertificate { credentials: vec![cred.clone()], sign };
        let ours =
            sign_ours(id, &lc, &CertRequest::default(), hashes, PRF, MSG, NONCE, &sk, &mut OsRng)?;
        let certs: Vec<CertRepr> = ours
            .certs
            .iter()
            .filter_map(|p| if let Payload::Cert(c) = p { Some(c.clone()) } else { None })
            .collect();
        let id_body = ours.id.to_vec().unwrap();
        let octets =
            SignedOctets { real_message: MSG, peer_nonce: NONCE, sk_p: &sk, id_body: &id_body };
        let (_, theirs) = verify_peer(pc, Time::ZERO, &certs, &ours.id, &ours.auth, &octets, PRF)?;
        Ok((ours.info, theirs))
    }

    fn method(info: &AuthInfo) -> AuthSignature {
        match info {
            AuthInfo::Certificate { signature, .. } => *signature,
            AuthInfo::Psk => panic!("not a certificate"),
        }
    }

    #[test]
    fn each_key_kind_signs_with_method_14_and_verifies() {
        let fqdn = |n: &str| IdRepr::fqdn(n);
        let cases = [
            (
                rsa(),
                pki_file!("rsa-ca.pem"),
                fqdn("gw1.example.test"),
                SignatureScheme::RsaPkcs1(HashAlg::Sha256),
            ),
            (
                p256(),
                pki_file!("ecp256-ca.pem"),
                fqdn("gw2.example.test"),
                SignatureScheme::Ecdsa(HashAlg::Sha256),
            ),
            (
                p384(),
                pki_file!("ecp384-ca.pem"),
                fqdn("gw4.example.test"),
                SignatureScheme::Ecdsa(HashAlg::Sha384),
            ),
        ];
        for (cred, ca, id, scheme) in cases {
            let pc = peer(ca, PeerIdCheck::Required);
            let (ours, theirs) = round_trip(&cred, SignOptions::default(), &id, ALL, &pc).unwrap();
            assert_eq!(ours, theirs, "both sides see the same signature");
            assert_eq!(method(&ours), AuthSignature::DigitalSignature(scheme));
        }
    }

    #[test]
    fn without_signature_hash_algorithms_ec_uses_rfc_4754_and_rsa_needs_sha1() {
        let id = IdRepr::fqdn("gw2.example.test");
        let pc = peer(pki_file!("ecp256-ca.pem"), PeerIdCheck::Required);
        let (ours, _) = round_trip(&p256(), SignOptions::default(), &id, &[], &pc).unwrap();
        assert_eq!(method(&ours), AuthSignature::EcdsaP256Sha256);
        let id = IdRepr::fqdn("gw4.example.test");
        let pc = peer(pki_file!("ecp384-ca.pem"), PeerIdCheck::Required);
        let (ours, _) = round_trip(&p384(), SignOptions::default(), &id, &[], &pc).unwrap();
        assert_eq!(method(&ours), AuthSignature::EcdsaP384Sha384);

        let id = IdRepr::fqdn("gw1.example.test");
        let mut pc = peer(pki_file!("rsa-ca.pem"), PeerIdCheck::Required);
        let e = round_trip(&rsa(), SignOptions::default(), &id, &[], &pc).unwrap_err();
        assert!(e.starts_with("cannot sign our AUTH: no signature AUTH method"), "{e}");
        let sha1 = SignOptions { allow_rsa_sha1: true, rsa_pss: false };
        let (ours, _) = round_trip(&rsa(), sha1, &id, &[], &pc).unwrap();
        assert_eq!(method(&ours), AuthSignature::RsaSha1);
        pc.verify.accept_rsa_sha1 = false;
        let e = round_trip(&rsa(), sha1, &id, &[], &pc).unwrap_err();
        assert!(e.starts_with("AUTH signature of ID_FQDN gw1.example.test does not verify"), "{e}");
    }

    #[test]
    fn forged_signatures_are_refused() {
        let sk = SecretBytes::from_slice(&[7; 32]);
        let id = IdRepr::fqdn("gw2.example.test");
        let pc = peer(pki_file!("ca-bundle.pem"), PeerIdCheck::Required);
        let lc = LocalCertificate::new(p256());
        let req = CertRequest::default();
        let ours = sign_ours(&id, &lc, &req, ALL, PRF, MSG, NONCE, &sk, &mut OsRng).unwrap();
        let certs: Vec<CertRepr> = p256().cert_payloads();
        let id_body = id.to_vec().unwrap();
        let octets = |m: &'static [u8]| SignedOctets {
            real_message: m,
            peer_nonce: NONCE,
            sk_p: &sk,
            id_body: &id_body,
        };
        // As signed: accepted.
        assert!(verify_peer(&pc, Time::ZERO, &certs, &id, &ours.auth, &octets(MSG), PRF).is_ok());
        // One bit of the signature flipped.
        let mut bad = ours.auth.clone();
        if let Some(b) = bad.data.last_mut() {
            *b ^= 1;
        }
        let e = verify_peer(&pc, Time::ZERO, &certs, &id, &bad, &octets(MSG), PRF).unwrap_err();
        assert!(e.contains("does not verify"), "{e}");
        // Another IKE_SA_INIT message (a man in the middle rewrote it).
        let e = verify_peer(&pc, Time::ZERO, &certs, &id, &ours.auth, &octets(b"rewritten"), PRF)
            .unwrap_err();
        assert!(e.contains("does not verify"), "{e}");
        // A valid signature by another trusted key, presented with this certificate.
        let lc = LocalCertificate::new(rsa());
        let id1 = IdRepr::fqdn("gw1.example.test");
        let other = sign_ours(&id1, &lc, &req, ALL, PRF, MSG, NONCE, &sk, &mut OsRng).unwrap();
        let e =
            verify_peer(&pc, Time::ZERO, &certs, &id, &other.auth, &octets(MSG), PRF).unwrap_err();
        assert!(e.starts_with("AUTH signature of ID_FQDN gw2.example.test does not verify"), "{e}");
        // A shared-key AUTH where a signature is required.
        let psk = AuthRepr {
            method: AuthMethod::SharedKeyMic,
            algorithm_identifier: None,
            data: vec![0; 32],
        };
        let e = verify_peer(&pc, Time::ZERO, &certs, &id, &psk, &octets(MSG), PRF).unwrap_err();
        assert_eq!(e, "auth method PSK instead of a certificate signature");
        // No certificate at all.
        let e = verify_peer(&pc, Time::ZERO, &[], &id, &ours.auth, &octets(MSG), PRF).unwrap_err();
        assert_eq!(e, "certificate rejected: no X.509 certificate received");
    }

    #[test]
    fn identity_rules() {
        let pc = |check| peer(pki_file!("ecp256-ca.pem"), check);
        let named = IdRepr::ipv4("192.0.2.2".parse().unwrap());
        let wrong = IdRepr::fqdn("gw9.example.test");
        // The certificate has no rfc822Name: it cannot vouch for an e-mail identity.
        let unvouched = IdRepr::rfc822("gw2@example.test");
        let s = SignOptions::default();
        for check in [PeerIdCheck::Required, PeerIdCheck::IfSupported, PeerIdCheck::NoCheck] {
            assert!(round_trip(&p256(), s, &named, ALL, &pc(check)).is_ok(), "{check:?}");
            assert!(
                round_trip(&p256(), s, &p256().certificate().subject_id(), ALL, &pc(check)).is_ok()
            );
        }
        let e = round_trip(&p256(), s, &wrong, ALL, &pc(PeerIdCheck::Required)).unwrap_err();
        assert!(
            e.starts_with("identity ID_FQDN gw9.example.test does not match certificate"),
            "{e}"
        );
        assert!(round_trip(&p256(), s, &wrong, ALL, &pc(PeerIdCheck::IfSupported)).is_err());
        assert!(round_trip(&p256(), s, &wrong, ALL, &pc(PeerIdCheck::NoCheck)).is_ok());
        let e = round_trip(&p256(), s, &unvouched, ALL, &pc(PeerIdCheck::Required)).unwrap_err();
        assert!(e.contains("is not named by certificate"), "{e}");
        assert!(round_trip(&p256(), s, &unvouched, ALL, &pc(PeerIdCheck::IfSupported)).is_ok());
    }

    #[test]
    fn validity_is_checked_at_the_configured_wall_clock() {
        let id = IdRepr::fqdn("gw2.example.test");
        let s = SignOptions::default();
        let mut pc = peer(pki_file!("ecp256-ca.pem"), PeerIdCheck::Required);
        // 2045: past every notAfter (2044-01-01).
        pc.clock = WallClock::Offset(2_366_841_600);
        let e = round_trip(&p256(), s, &id, ALL, &pc).unwrap_err();
        assert!(
            e.starts_with("certificate rejected: certificate \"") && e.contains("expired"),
            "{e}"
        );
        // 2023: before every notBefore (2024-01-01).
        pc.clock = WallClock::Offset(1_672_531_200);
        let e = round_trip(&p256(), s, &id, ALL, &pc).unwrap_err();
        assert!(e.contains("is not valid yet"), "{e}");
        assert_eq!(WallClock::Offset(10).unix_seconds(Time::from_millis(5_999)), 15);
        assert!(WallClock::System.unix_seconds(Time::ZERO) > Y2030 - 10 * 365 * 86_400);
    }

    #[test]
    fn unknown_ca() {
        let pc = peer(pki_file!("rsa-ca.pem"), PeerIdCheck::Required);
        let e = round_trip(
            &p256(),
            SignOptions::default(),
            &IdRepr::fqdn("gw2.example.test"),
            ALL,
            &pc,
        )
        .unwrap_err();
        assert_eq!(
            e,
            "certificate rejected: issuer \"CN=ECDSA P-256 Root CA,O=ferrogate test,C=XX\" is not \
             a trusted CA"
        );
    }

    #[test]
    fn certreq_picks_the_credential_and_a_dn_identity_follows_it() {
        let lc =
            LocalCertificate { credentials: vec![rsa(), p384()], sign: SignOptions::default() };
        let ask = |ca: &[u8]| {
            let store = peer(ca, PeerIdCheck::Required).trust;
            CertRequest::from_payloads(&[store.certreq()])
        };
        let pick = |req: &CertRequest| {
            choose_credential(&lc, req).unwrap().certificate().subject().to_owned()
        };
        assert_eq!(pick(&ask(pki_file!("ecp384-ca.pem"))), p384().certificate().subject());
        assert_eq!(pick(&ask(pki_file!("rsa-ca.pem"))), rsa().certificate().subject());
        // Nothing asked, or only for CAs we have no certificate under: the default.
        assert_eq!(pick(&CertRequest::default()), rsa().certificate().subject());
        assert_eq!(pick(&ask(pki_file!("ecp256-ca.pem"))), rsa().certificate().subject());
        // A DN names one certificate: another credential sends its own subject.
        let rsa_dn = rsa().certificate().subject_id();
        assert_eq!(local_id_for(&rsa_dn, &rsa()), rsa_dn);
        assert_eq!(local_id_for(&rsa_dn, &p384()), p384().certificate().subject_id());
        // Other identity types are sent as configured.
        let fqdn = IdRepr::fqdn("gw1.example.test");
        assert_eq!(local_id_for(&fqdn, &p384()), fqdn);
    }
}
