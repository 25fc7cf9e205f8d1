//! IKEv2 (RFC 7296), sans-IO.
//!
//! - [`wire`]: the message codec: zero-copy views of the IKE header, the generic payload
//!   header, payload chains and the encrypted (SK / SKF) payload, plus owned `Repr` types for
//!   every payload and whole messages (RFC 7296 section 3, RFC 7383 fragments). Panic-free
//!   on any input.
//! - [`sa`]: the IKE SA state machine (initiator and responder, IKE_SA_INIT, IKE_AUTH with
//!   PSK, the first Child SA, INFORMATIONAL) and the endpoint that routes datagrams to it.
//! - [`proposal`]: proposal selection by the local order, and the initiator's check of the
//!   answer; [`selectors`]: traffic-selector narrowing and range/prefix conversions.
//! - [`cookie`] and [`dos`]: the responder's COOKIE jar and admission control (half-open
//!   limits, per-source rate limits); [`fragment`]: IKE fragmentation (RFC 7383).
pub mod cookie;
pub mod dos;
pub mod fragment;
pub mod proposal;
pub mod sa;
pub mod selectors;
pub mod wire;
