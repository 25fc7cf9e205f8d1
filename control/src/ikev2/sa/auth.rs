//! AUTH payloads (RFC 7296 section 2.15): pre-shared keys here, signatures with
//! [`crate::pki::auth`]; the certificate side (chain, identity) is in `cert_auth`.
//!
//! ```text
//! AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets> )
//! InitiatorSignedOctets = RealMessage1 | NonceRData | prf(SK_pi, RestOfInitIDPayload)
//! ResponderSignedOctets = RealMessage2 | NonceIData | prf(SK_pr, RestOfRespIDPayload)
//! ```
//!
//! RealMessage1/2 are the IKE_SA_INIT request and response exactly as sent (the last request,
//! with any COOKIE); RestOf*IDPayload is the ID payload body from the ID Type on, reserved
//! octets included.

use subtle::ConstantTimeEq;

use crate::crypto::{PrfAlg, SecretBytes};
use crate::ikev2::wire::AuthRepr;
use crate::pki::auth::verify_auth;
use crate::pki::{AuthError, AuthSignature, PublicKey, VerifyOptions};

/// The pad that keys the PSK derivation (RFC 7296 section 2.15), "without null termination".
pub const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// Proof that the peer's AUTH payload verified: only `verify` makes one, and installing a
/// Child SA takes it, so no Child SA can come out of an unauthenticated exchange.
#[derive(Debug)]
pub struct AuthVerified(());

impl AuthVerified {
    /// For an IKE SA taken over from the other unit of a failover pair (`ha_export`): the
    /// peer authenticated there, and the records came over the authenticated failover link.
    pub(super) fn replicated() -> AuthVerified {
        AuthVerified(())
    }
}

/// The inputs of one side's AUTH.
pub(crate) struct SignedOctets<'a> {
    /// RealMessage1 (initiator) or RealMessage2 (responder).
    pub real_message: &'a [u8],
    /// The other side's nonce data: Nr for the initiator's AUTH, Ni for the responder's.
    pub peer_nonce: &'a [u8],
    /// SK_pi for the initiator's AUTH, SK_pr for the responder's.
    pub sk_p: &'a SecretBytes,
    /// The signer's ID payload body.
    pub id_body: &'a [u8],
}

/// The AUTH payload data for a shared secret.
pub(crate) fn psk_auth(prf: PrfAlg, psk: &[u8], octets: &SignedOctets<'_>) -> SecretBytes {
    let maced_id = prf.prf(octets.sk_p.as_bytes(), octets.id_body);
    let key = prf.prf(psk, KEY_PAD);
    prf.prf_parts(key.as_bytes(), &[octets.real_message, octets.peer_nonce, maced_id.as_bytes()])
}

/// Checks the peer's AUTH data in constant time.
pub(crate) fn verify(
    prf: PrfAlg,
    psk: &[u8],
    octets: &SignedOctets<'_>,
    received: &[u8],
) -> Option<AuthVerified> {
    let expected = psk_auth(prf, psk, octets);
    bool::from(expected.as_bytes().ct_eq(received)).then_some(AuthVerified(()))
}

/// Checks the peer's signature AUTH over its signed octets with the public key of its
/// validated certificate (RFC 7427, RFC 4754); returns how it was signed, for the log.
pub(crate) fn verify_signature(
    key: &PublicKey,
    auth: &AuthRepr,
    octets: &SignedOctets<'_>,
    prf: PrfAlg,
    opts: &VerifyOptions,
) -> Result<(AuthVerified, AuthSignature), AuthError> {
    let signed = crate::pki::auth::signed_octets(
        prf,
        octets.real_message,
        octets.peer_nonce,
        octets.sk_p,
        octets.id_body,
    );
    verify_auth(key, auth, &signed, opts).map(|how| (AuthVerified(()), how))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::digest::KeyInit;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().to_vec()
    }

    /// The formula computed independently with the `hmac` crate.
    #[test]
    fn psk_auth_is_the_rfc_formula() {
        let sk_p = SecretBytes::from_slice(&[9; 32]);
        let octets = SignedOctets {
            real_message: b"the IKE_SA_INIT request",
            peer_nonce: &[5; 32],
            sk_p: &sk_p,
            id_body: &[2, 0, 0, 0, b'a'],
        };
        let got = psk_auth(PrfAlg::HmacSha256, b"secret", &octets);
        let maced = hmac(&[9; 32], &[&[2, 0, 0, 0, b'a']]);
        let key = hmac(b"secret", &[b"Key Pad for IKEv2"]);
        let want = hmac(&key, &[b"the IKE_SA_INIT request", &[5; 32], &maced]);
        assert_eq!(got.as_bytes(), &want[..]);
        assert!(verify(PrfAlg::HmacSha256, b"secret", &octets, &want).is_some());
        assert!(verify(PrfAlg::HmacSha256, b"secreT", &octets, &want).is_none());
        assert!(verify(PrfAlg::HmacSha256, b"secret", &octets, &want[..31]).is_none());
    }
}
