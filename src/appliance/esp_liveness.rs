//! ESP liveness for dead peer detection: inbound ESP that authenticated on a Child SA
//! proves its peer alive, so DPD (the ASA's on-demand `isakmp keepalive threshold N retry
//! M`) only probes a peer that has been silent for `threshold` (RFC 3706 section 5.3; RFC
//! 7296 section 1.4).
//!
//! The dataplane already counts each SA's packets for `show crypto ipsec sa`; the control
//! thread compares each installed inbound SA's packet count with the one it saw last time,
//! about once a [`LOOK_EVERY`], and tells the IKE SA that owns a pair whose count grew
//! (`IkeSa::note_inbound_traffic`, `Ikev1Sa::note_inbound_traffic`). Nothing is added to
//! the per-packet path. The cost is proportional to the installed SAs: per look, one SA
//! table lookup (by SPI) and one hash map insert per installed inbound SA, on the control
//! thread, plus one `note_inbound_traffic` call per IKE SA whose peer sent ESP.
//!
//! A peer's traffic is noticed up to one look (plus a worker's counter publication) late:
//! the IKE SA then thinks the peer last spoke slightly later than it did, which postpones
//! a check by at most that much; against the 10 s minimum threshold that is noise.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use control::ikev2::sa::SaHandle;

/// How often the control thread looks at the inbound SAs' counters.
pub(super) const LOOK_EVERY: Duration = Duration::from_secs(1);

/// What the last look saw, and when the next one is due.
#[derive(Debug, Default)]
pub(super) struct EspActivity {
    /// Inbound SPI → its packet count at the last look.
    seen: HashMap<u32, u64>,
    /// When the next look is due (`None`: at once).
    next: Option<Instant>,
}

impl EspActivity {
    /// Whether a look is due at `now`; if so, the one after is scheduled [`LOOK_EVERY`]
    /// later.
    pub(super) fn due(&mut self, now: Instant) -> bool {
        if self.next.is_some_and(|t| now < t) {
            return false;
        }
        self.next = Some(now + LOOK_EVERY);
        true
    }

    /// Takes the current count of every installed inbound SA (`(inbound SPI, owning IKE
    /// SA, packets)`) and returns the IKE SAs of those whose count grew since the last look.
    /// An SA seen for the first time counts from zero (it was installed with no packets);
    /// an SA no longer listed is forgotten, so the map never outgrows the SA table.
    pub(super) fn look(
        &mut self,
        current: impl IntoIterator<Item = (u32, SaHandle, u64)>,
    ) -> BTreeSet<SaHandle> {
        let mut active = BTreeSet::new();
        let mut seen = HashMap::with_capacity(self.seen.len());
        for (spi, owner, packets) in current {
            if packets > self.seen.get(&spi).copied().unwrap_or(0) {
                active.insert(owner);
            }
            seen.insert(spi, packets);
        }
        self.seen = seen;
        active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_once_a_second() {
        let mut a = EspActivity::default();
        let t0 = Instant::now();
        assert!(a.due(t0), "the first look is at once");
        assert!(!a.due(t0 + Duration::from_millis(999)));
        assert!(a.due(t0 + LOOK_EVERY));
        assert!(!a.due(t0 + LOOK_EVERY + Duration::from_millis(500)));
        assert!(a.due(t0 + Duration::from_secs(5)), "late looks are not queued up");
        assert!(!a.due(t0 + Duration::from_millis(5500)));
    }

    #[test]
    fn only_ike_sas_whose_pairs_received_are_reported() {
        let (x, y) = (SaHandle(1), SaHandle(2));
        let mut a = EspActivity::default();
        // New pairs: one that already received, one idle.
        assert_eq!(a.look([(0x100, x, 3), (0x200, y, 0)]), BTreeSet::from([x]));
        // Nothing new on either.
        assert_eq!(a.look([(0x100, x, 3), (0x200, y, 0)]), BTreeSet::new());
        // Traffic on y's pair only.
        assert_eq!(a.look([(0x100, x, 3), (0x200, y, 9)]), BTreeSet::from([y]));
        // Two pairs of x (a rekey's overlap): either one growing is enough, x once.
        let both = a.look([(0x100, x, 4), (0x101, x, 1), (0x200, y, 9)]);
        assert_eq!(both, BTreeSet::from([x]));
        assert_eq!(a.seen.len(), 3);
    }

    #[test]
    fn deleted_pairs_are_forgotten_and_a_reused_spi_counts_from_zero() {
        let x = SaHandle(7);
        let mut a = EspActivity::default();
        assert_eq!(a.look([(0x100, x, 50)]), BTreeSet::from([x]));
        assert_eq!(a.look([]), BTreeSet::new());
        assert!(a.seen.is_empty(), "a deleted pair leaves nothing behind");
        // The SPI installed again (a new pair): its 2 packets are new traffic even though
        // the old pair had counted 50.
        assert_eq!(a.look([(0x100, x, 2)]), BTreeSet::from([x]));
    }

    #[test]
    fn ikev1_and_ikev2_owners_are_kept_apart() {
        let v2 = SaHandle(3);
        let v1 = super::super::ike1::key(control::ikev1::sa::Ikev1Handle(3));
        let mut a = EspActivity::default();
        let active = a.look([(0x1, v2, 1), (0x2, v1, 1)]);
        assert_eq!(active, BTreeSet::from([v1, v2]));
    }
}
