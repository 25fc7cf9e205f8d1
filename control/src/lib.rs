//! ferrogate control plane.
//!
//! This crate will hold the sans-IO IKEv1/IKEv2 state machines, the policy model (crypto
//! maps, ACLs, transform sets, proposals, tunnel groups), multi-peer failover and HA. None of
//! that exists yet: each arrives with its own issue (policy #5, IKEv2 #6, failover #7,
//! IKEv1 #8, HA #9). The crate is part of the workspace now so that the layout, lints and CI
//! are in place before the first protocol code lands; it exports nothing.
#![forbid(unsafe_code)]
