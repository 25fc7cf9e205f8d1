//! IKE SA generations (RFC 7296 section 2.18). Rekeying the IKE SA makes a new SA with new
//! SPIs, keys and Message IDs that inherits everything else; the old one lives on until it
//! is deleted, and messages for it must still be handled: the DELETE that ends it, its
//! answer, retransmissions, and in a simultaneous rekey (section 2.8.2) the answer to our
//! own rekey request.
//!
//! The current generation lives in the [`Context`] (SPIs, roles, both Message ID windows)
//! and the established state (keys); the others are [`OldGen`]s. To process a message of an
//! old generation it is swapped into those places, so that the same sealing, opening and
//! window code serves every generation, and swapped back out afterwards.

use core::mem;

use crate::ikev2::proposal::Selected;
use crate::time::Time;

use super::context::Context;
use super::exchange::{Requests, Responses};
use super::keys::IkeKeys;

/// What becomes of an old generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// The peer initiated its replacement and deletes it; we answer until then.
    PeerDeletes,
    /// We delete it (we initiated the surviving replacement, or it is a redundant SA we
    /// created in a simultaneous rekey); `sent` once the DELETE went out.
    WeDelete { sent: bool },
    /// Deleted: only retransmitted requests are answered (from the cache), until `until`.
    Retired,
}

/// An IKE SA generation other than the current one.
pub(crate) struct OldGen {
    pub spi_i: u64,
    pub spi_r: u64,
    /// We are its original initiator (the initiator of the exchange that created it).
    pub initiator: bool,
    pub requests: Requests,
    pub responses: Responses,
    pub keys: IkeKeys,
    pub fate: Fate,
    /// When it is forgotten whatever happened: a peer that never deletes it, or a DELETE of
    /// ours never answered, cannot keep it forever.
    pub until: Time,
}

/// A generation just negotiated, before it becomes current or old.
pub(crate) struct NewGen {
    pub spi_i: u64,
    pub spi_r: u64,
    pub initiator: bool,
    pub keys: IkeKeys,
    pub ike: Selected,
}

impl NewGen {
    /// As an old generation (a redundant one we delete), with fresh Message ID windows.
    pub fn into_old(self, fate: Fate, until: Time) -> OldGen {
        OldGen {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            initiator: self.initiator,
            requests: Requests::default(),
            responses: Responses::default(),
            keys: self.keys,
            fate,
            until,
        }
    }
}

/// Exchanges the generation-specific parts of the context and the current keys with `g`'s.
/// Called twice, it restores both.
pub(crate) fn swap(cx: &mut Context, keys: &mut IkeKeys, g: &mut OldGen) {
    mem::swap(&mut cx.spi_i, &mut g.spi_i);
    mem::swap(&mut cx.spi_r, &mut g.spi_r);
    mem::swap(&mut cx.initiator, &mut g.initiator);
    mem::swap(&mut cx.requests, &mut g.requests);
    mem::swap(&mut cx.responses, &mut g.responses);
    mem::swap(keys, &mut g.keys);
}
