//! What the established IKE SA keeps about each Child SA pair besides the keys the dataplane
//! got: its policy (to rekey and narrow with), its selectors, its lifetimes (RFC 7296
//! section 2.8) and where it stands in rekeying and deletion.

use core::time::Duration;

use rand_core::CryptoRng;

use crate::crypto::SecretBytes;
use crate::ikev2::proposal::Selected;
use crate::ikev2::wire::TrafficSelector;
use crate::time::Time;

use super::config::ChildConfig;
use super::events::ChildSa;

/// A copy of one pair's keys, kept only so that the SA can be replicated to a standby unit
/// ([`IkeSa::export`](super::IkeSa::export)). Every key is a [`SecretBytes`]: zeroized on
/// drop, its `Debug` only a length.
#[derive(Debug)]
pub(crate) struct PairKeys {
    pub inbound_encr: SecretBytes,
    pub inbound_integ: SecretBytes,
    pub outbound_encr: SecretBytes,
    pub outbound_integ: SecretBytes,
}

impl PairKeys {
    pub fn of(c: &ChildSa) -> PairKeys {
        PairKeys {
            inbound_encr: c.inbound.encr.clone(),
            inbound_integ: c.inbound.integ.clone(),
            outbound_encr: c.outbound.encr.clone(),
            outbound_integ: c.outbound.integ.clone(),
        }
    }
}

/// Where one pair stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChildState {
    /// In use; rekeyed at its soft lifetime.
    Installed,
    /// Replaced by a newer pair that the peer initiated, or found redundant after a
    /// simultaneous rekey: the peer deletes it (section 2.8: "the node that initiated the
    /// surviving rekeyed SA should delete the replaced SA"). Never rekeyed again.
    Replaced,
    /// Our DELETE of it is queued or in flight.
    Deleting,
}

/// The nonces of the exchange that made an SA (IKE_SA_INIT for an IKE SA and its first
/// Child SA, CREATE_CHILD_SA for later ones) and whether we initiated that exchange: what
/// the duplicate rule ranks SAs by (see [`duplicates`](super::duplicates)). Nonces are
/// public (they travel in clear in IKE_SA_INIT), so nothing here is secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    pub we_initiated: bool,
}

impl Origin {
    /// The rank of the SA among duplicates: its exchange's lowest nonce, then its highest,
    /// compared octet by octet. Both peers see the same two nonces for an exchange, so
    /// they rank every SA alike; of two duplicates the lower is redundant, as for the
    /// simultaneous rekeys of RFC 7296 section 2.8.1 (see [`ours_redundant`]).
    pub fn rank(&self) -> (&[u8], &[u8]) {
        let (a, b) = (self.ni.as_slice(), self.nr.as_slice());
        (a.min(b), a.max(b))
    }
}

/// One Child SA pair.
#[derive(Debug)]
pub(crate) struct Child {
    pub inbound: u32,
    pub outbound: u32,
    /// The policy it was negotiated under: its proposals, lifetimes and (for a responder)
    /// the selectors a rekey request is narrowed to.
    pub cfg: ChildConfig,
    /// The negotiated selectors, offered again when we rekey it.
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    /// The negotiated transforms (for replication).
    pub transforms: Selected,
    /// Its keys (for replication).
    pub keys: PairKeys,
    /// When to rekey it (consumed when it fires).
    pub soft: Option<Time>,
    /// When to delete it whatever happened (consumed when it fires).
    pub hard: Option<Time>,
    pub state: ChildState,
    /// The exchange that made it; `None` when rebuilt from HA records, which lack the
    /// nonces (such a pair is never judged a duplicate).
    pub origin: Option<Origin>,
}

/// The soft lifetime of something created at `start` with hard `lifetime`: 90 % of it,
/// less a random jitter of up to another 10 %, so that two peers with the same policy
/// rarely rekey at the same moment (section 2.8.1: "the timing of rekeying requests SHOULD
/// be jittered"). `None` for no lifetime.
pub(crate) fn soft_deadline<R: CryptoRng + ?Sized>(
    start: Time,
    lifetime: Duration,
    rng: &mut R,
) -> Option<Time> {
    let ms = u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return None;
    }
    let tenth = ms / 10;
    let jitter = if tenth == 0 { 0 } else { rng.next_u64() % (tenth + 1) };
    Some(start + Duration::from_millis(ms - tenth - jitter))
}

/// The hard deadline for a lifetime (`None`: none).
pub(crate) fn hard_deadline(start: Time, lifetime: Duration) -> Option<Time> {
    (!lifetime.is_zero()).then(|| start + lifetime)
}

/// Whether, of two simultaneous rekeyings (section 2.8.1), ours created the redundant SA:
/// the lowest of the four nonces is one of our exchange's. "Lowest" is an octet-by-octet
/// comparison where a nonce that is a prefix of another is the lower, which is exactly
/// the order of byte slices. Both peers see the same four nonces, with the roles swapped,
/// so exactly one of them finds its own redundant (a tie on the lowest, which random
/// nonces make practically impossible, is broken by the highest).
pub(crate) fn ours_redundant(our_ni: &[u8], peer_nr: &[u8], peer_ni: &[u8], our_nr: &[u8]) -> bool {
    let ours = (our_ni.min(peer_nr), our_ni.max(peer_nr));
    let theirs = (peer_ni.min(our_nr), peer_ni.max(our_nr));
    ours < theirs
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(u64);
    impl rand_core::TryRng for Fixed {
        type Error = core::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Ok(self.0 as u32)
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            Ok(self.0)
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            dst.fill(0);
            Ok(())
        }
    }
    impl rand_core::TryCryptoRng for Fixed {}

    #[test]
    fn soft_lifetime_is_between_80_and_90_percent() {
        let l = Duration::from_secs(1000);
        assert_eq!(soft_deadline(Time::ZERO, l, &mut Fixed(0)), Some(Time::from_secs(900)));
        assert_eq!(soft_deadline(Time::ZERO, l, &mut Fixed(100_000)), Some(Time::from_secs(800)));
        assert_eq!(
            soft_deadline(Time::from_secs(5), l, &mut Fixed(100_001)),
            Some(Time::from_secs(905))
        );
        assert_eq!(soft_deadline(Time::ZERO, Duration::ZERO, &mut Fixed(7)), None);
        assert_eq!(hard_deadline(Time::from_secs(1), l), Some(Time::from_secs(1001)));
        assert_eq!(hard_deadline(Time::from_secs(1), Duration::ZERO), None);
    }

    #[test]
    fn exactly_one_side_finds_its_rekey_redundant() {
        let (a_ni, a_nr, b_ni, b_nr) =
            ([5u8, 1].as_slice(), [9u8].as_slice(), [7u8].as_slice(), [5u8].as_slice());
        // Lowest is b_nr = [5] (a prefix of [5, 1]): exchange b is redundant.
        assert!(!ours_redundant(a_ni, a_nr, b_ni, b_nr));
        assert!(ours_redundant(b_ni, b_nr, a_ni, a_nr));
        // Octet by octet, not as integers: [1, 255] < [2].
        assert!(ours_redundant(&[1, 255], &[9], &[2], &[9]));
        assert!(!ours_redundant(&[2], &[9], &[1, 255], &[9]));
    }
}
