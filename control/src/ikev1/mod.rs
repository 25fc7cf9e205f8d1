//! IKEv1 / ISAKMP (RFC 2407, 2408, 2409) for legacy peers: the codec ([`wire`]), the key
//! derivation and phase-1 encryption ([`keys`], [`crypt`]), the SA offers and their
//! negotiation ([`proposal`]).

pub mod crypt;
pub mod keys;
pub mod proposal;
pub mod remote_access;
pub mod sa;
pub mod wire;
