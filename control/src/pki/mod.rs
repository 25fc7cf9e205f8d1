//! X.509 certificates for IKEv2 authentication: the certificate side of IKE_AUTH (RFC 7296
//! sections 2.15, 3.6, 3.7, 3.8), RFC 7427 digital signatures and RFC 4754 ECDSA.
//!
//! Sans-IO like the rest of the crate apart from [`load`]'s file helpers: validation takes
//! the time as UNIX seconds from the caller, signing takes the caller's RNG.
//!
//! - [`Certificate`]: a parsed DER certificate (names, validity, key, extensions);
//! - [`load`]: certificates and private keys from PEM/DER files, a trustpoint's files;
//! - [`TrustStore`]: CA certificates; [`TrustStore::validate_payloads`] validates the CERT
//!   payloads a peer sent into a [`ValidatedChain`];
//! - [`Certificate::match_id`]: the peer's IDi/IDr against its certificate;
//! - [`auth`]: AUTH payloads for methods 14, 1, 9 and 10, signed octets,
//!   SIGNATURE_HASH_ALGORITHMS;
//! - [`CertRequest`], [`Credential`]: CERTREQ payloads and choosing what to send.
//!
//! Typical IKE_AUTH use, responder side:
//!
//! ```text
//! let chain = store.validate_payloads(&cert_payloads, unix_now)?;      // peer's CERTs
//! match chain.end_entity().match_id(&peer_id) { IdMatch::Match => .., _ => .. }
//! let octets = auth::signed_octets(prf, real_msg1, nonce_r, &sk_pi, id_i_body);
//! auth::verify_auth(chain.public_key(), &auth_payload, &octets, &VerifyOptions::default())?;
//! let how = auth::choose_auth_signature(cred.private_key(), &peer_hashes, &opts)?;
//! let my_auth = auth::sign_auth(cred.private_key(), how, &my_octets, &opts, rng)?;
//! ```

pub mod auth;
mod cert;
mod certreq;
mod chain;
mod credential;
mod identity;
mod ikev1_sig;
mod key;
pub mod load;
mod oid;
mod signature;

pub use auth::{AuthError, AuthSignature, SignOptions, VerifyOptions};
pub use cert::{AltName, CertError, Certificate, KeyUsage, MAX_CERT_LEN};
pub use certreq::{CertRequest, certreq_authorities};
pub use chain::{
    ChainError, MAX_INTERMEDIATES, MAX_LINK_CHECKS, MAX_PATH_LEN, MAX_SIGNATURE_CHECKS, TrustStore,
    ValidatedChain,
};
pub use credential::{Credential, CredentialError, select_credential};
pub use identity::IdMatch;
pub use ikev1_sig::{Ikev1Signature, sign_ikev1, verify_ikev1};
pub use key::{KeyError, KeyKind, MAX_RSA_BITS, MIN_RSA_BITS, PrivateKey, PublicKey};
pub use load::{LoadError, LoadErrorKind, LoadedTrustpoint};
pub use signature::{HashAlg, SignatureError, SignatureScheme, sign, verify};
