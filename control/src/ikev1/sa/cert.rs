//! Phase-1 authentication with signatures (RFC 2409 section 5.1): CERTREQ in messages 3 and
//! 4 naming our CAs, then [IDii, CERT, SIG_I] and [IDir, CERT, SIG_R] in messages 5 and 6.
//! SKEYID = prf(Ni_b | Nr_b, g^xy); SIG_I and SIG_R sign HASH_I and HASH_R
//! ([`crate::pki::sign_ikev1`]). The peer's certificate chain is validated against the
//! configured CAs at the configured wall-clock time and its identity checked against the
//! certificate, as for IKEv2 (`peer-id-validate`).

use core::fmt;

use rand_core::CryptoRng;

use crate::ikev1::proposal::AuthMethod;
use crate::ikev1::wire::{CertPayload, Identification, Payload, cert_encoding};
use crate::ikev2::sa::{AuthInfo, LocalCertificate, PeerCertificate, PeerIdCheck};
use crate::pki::{
    AuthSignature, Credential, IdMatch, Ikev1Signature, KeyKind, sign_ikev1, verify_ikev1,
};
use crate::time::Time;

use super::phase1::to_id_repr;

/// Certificate authentication for one peer: our credential and how the peer's is checked.
#[derive(Clone)]
pub struct Ikev1Certificates {
    /// Our certificate and key (the first credential is used).
    pub local: LocalCertificate,
    /// The CAs and identity rule for the peer's certificate.
    pub remote: PeerCertificate,
}

impl fmt::Debug for Ikev1Certificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ikev1Certificates").field("local", &self.local).finish_non_exhaustive()
    }
}

impl Ikev1Certificates {
    fn credential(&self) -> Option<&Credential> {
        self.local.credentials.first().map(|c| &**c)
    }

    /// The phase-1 authentication method our key signs with.
    pub fn method(&self) -> Option<AuthMethod> {
        Some(match self.credential()?.private_key().kind() {
            KeyKind::Rsa { .. } => AuthMethod::RsaSig,
            KeyKind::EcP256 => AuthMethod::EcdsaSig(256),
            KeyKind::EcP384 => AuthMethod::EcdsaSig(384),
        })
    }

    /// CERTREQ payloads naming each CA we trust (the DER subject, RFC 2408 section 3.10):
    /// strongSwan sends its certificate only when asked.
    pub(super) fn certreqs(&self) -> Vec<Payload> {
        self.remote
            .trust
            .anchors()
            .iter()
            .map(|ca| {
                Payload::CertReq(CertPayload {
                    encoding: cert_encoding::X509_SIGNATURE,
                    data: ca.subject_der().to_vec(),
                })
            })
            .collect()
    }

    /// Our phase-1 identity: the certificate's subject DN (what peers match certificates
    /// against, and the ASA's `crypto isakmp identity auto` with certificates).
    pub(super) fn our_id(&self) -> Option<Identification> {
        let repr = self.credential()?.certificate().subject_id();
        Some(Identification {
            id_type: u8::from(repr.id_type),
            protocol: 0,
            port: 0,
            data: repr.data,
        })
    }

    /// Our CERT payloads and SIG over `hash`.
    pub(super) fn sign<R: CryptoRng + ?Sized>(
        &self,
        hash: &[u8],
        rng: &mut R,
    ) -> Result<(Vec<Payload>, Payload, AuthInfo), String> {
        let cred = self.credential().ok_or("no certificate configured")?;
        let sig =
            sign_ikev1(cred.private_key(), hash, rng).map_err(|e| format!("cannot sign: {e}"))?;
        let certs = cred
            .cert_payloads()
            .into_iter()
            .map(|c| {
                Payload::Cert(CertPayload { encoding: cert_encoding::X509_SIGNATURE, data: c.data })
            })
            .collect();
        let info = AuthInfo::Certificate {
            signature: auth_signature(Ikev1Signature::for_key(cred.private_key().kind())),
            subject: cred.certificate().subject().to_owned(),
        };
        Ok((certs, Payload::Signature(sig), info))
    }

    /// Checks the peer's CERT payloads, identity and SIG over the `expected` HASH.
    pub(super) fn verify(
        &self,
        now: Time,
        payloads: &[Payload],
        peer_id: &Identification,
        method: AuthMethod,
        expected: &[u8],
    ) -> Result<AuthInfo, String> {
        let sig_method = match method {
            AuthMethod::RsaSig => Ikev1Signature::Rsa,
            AuthMethod::EcdsaSig(256) => Ikev1Signature::EcdsaP256,
            AuthMethod::EcdsaSig(384) => Ikev1Signature::EcdsaP384,
            other => {
                return Err(format!(
                    "authentication method {other:?} is not a certificate signature"
                ));
            }
        };
        let certs: Vec<&[u8]> = payloads
            .iter()
            .filter_map(|p| match p {
                Payload::Cert(c) if c.encoding == cert_encoding::X509_SIGNATURE => {
                    Some(c.data.as_slice())
                }
                _ => None,
            })
            .collect();
        let signature = payloads
            .iter()
            .find_map(|p| if let Payload::Signature(s) = p { Some(s.as_slice()) } else { None })
            .ok_or("no SIG payload")?;
        let (leaf, rest) =
            certs.split_first().ok_or("certificate rejected: the peer sent no certificate")?;
        let unix = self.remote.clock.unix_seconds(now);
        let chain = self
            .remote
            .trust
            .validate_der(leaf, rest, unix)
            .map_err(|e| format!("certificate rejected: {e}"))?;
        let cert = chain.end_entity();
        let id = to_id_repr(peer_id);
        match (self.remote.id_check, cert.match_id(&id)) {
            (PeerIdCheck::NoCheck, _) | (_, IdMatch::Match) => {}
            (PeerIdCheck::IfSupported, IdMatch::NotApplicable) => {}
            (_, IdMatch::Mismatch) => {
                return Err(format!(
                    "identity {id} does not match certificate \"{}\"",
                    cert.subject()
                ));
            }
            (PeerIdCheck::Required, IdMatch::NotApplicable) => {
                return Err(format!(
                    "identity {id} is not named by certificate \"{}\" (peer-id-validate required)",
                    cert.subject()
                ));
            }
        }
        verify_ikev1(chain.public_key(), sig_method, expected, signature)
            .map_err(|e| format!("SIG of {id} does not verify: {e}"))?;
        tracing::debug!(target: crate::log::IKEV1,
            "peer {id} authenticated by certificate \"{}\" under CA \"{}\"",
            cert.subject(), chain.anchor().subject());
        Ok(AuthInfo::Certificate {
            signature: auth_signature(sig_method),
            subject: cert.subject().to_owned(),
        })
    }
}

/// The shared (IKEv2) description of an IKEv1 signature method, for `show` and events.
fn auth_signature(m: Ikev1Signature) -> AuthSignature {
    match m {
        Ikev1Signature::Rsa => AuthSignature::RsaSha1,
        Ikev1Signature::EcdsaP256 => AuthSignature::EcdsaP256Sha256,
        Ikev1Signature::EcdsaP384 => AuthSignature::EcdsaP384Sha384,
    }
}

/// Whether `auth` authenticates with certificate signatures.
pub(super) fn is_signature(auth: AuthMethod) -> bool {
    matches!(auth, AuthMethod::RsaSig | AuthMethod::EcdsaSig(_))
}
