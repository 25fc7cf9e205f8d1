//! How a 32-bit identifier (an inbound SPI ferrogate allocates, or an outbound [`SaIndex`])
//! names a slot: the slot index in the low bits, a per-slot tag in the high bits.
//!
//! The tag of a slot starts at a random value and moves on each time the slot is handed out
//! again, and slots are reused least recently freed first, so a stale identifier (a packet
//! of a deleted SA still in flight, a flow-cache entry of a deleted tunnel) or a guessed one
//! misses instead of hitting whatever SA lives in the slot now. The tag is never 0, so an
//! allocated SPI is at least 2^8 and never one of the reserved SPIs 0..=255 (RFC 4303 2.1).
//!
//! [`SaIndex`]: super::SaIndex

/// Fewest slot bits: keeps every tagged identifier above the reserved SPI range.
pub(crate) const MIN_SLOT_BITS: u32 = 8;
/// Most slot bits: leaves at least 2^8 - 1 tags per slot (16,777,216 slots).
pub(crate) const MAX_SLOT_BITS: u32 = 24;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Codec {
    bits: u32,
}

impl Codec {
    /// The codec for at least `capacity` slots, or `None` beyond 2^[`MAX_SLOT_BITS`].
    pub(crate) fn for_capacity(capacity: usize) -> Option<Codec> {
        let slots = capacity.max(1).checked_next_power_of_two()?;
        let bits = slots.trailing_zeros().max(MIN_SLOT_BITS);
        (bits <= MAX_SLOT_BITS).then_some(Codec { bits })
    }

    /// Number of slots (a power of two).
    pub(crate) fn slots(self) -> usize {
        1 << self.bits
    }

    #[inline]
    pub(crate) fn mask(self) -> u32 {
        (1 << self.bits) - 1
    }

    #[inline]
    pub(crate) fn slot(self, id: u32) -> usize {
        (id & self.mask()) as usize
    }

    pub(crate) fn tag(self, id: u32) -> u32 {
        id >> self.bits
    }

    pub(crate) fn max_tag(self) -> u32 {
        u32::MAX >> self.bits
    }

    /// The tag after `tag`, cycling through `1..=max_tag`.
    pub(crate) fn next_tag(self, tag: u32) -> u32 {
        tag % self.max_tag() + 1
    }

    pub(crate) fn encode(self, slot: usize, tag: u32) -> u32 {
        debug_assert!(slot < self.slots() && (1..=self.max_tag()).contains(&tag));
        tag << self.bits | slot as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_avoid_reserved_spis_and_roundtrip() {
        for cap in [1, 200, 256, 1000, 1 << 20, 1_000_000, 1 << 24] {
            let c = Codec::for_capacity(cap).unwrap();
            assert!(c.slots() >= cap);
            for slot in [0, 1, c.slots() - 1] {
                for tag in [1, 2, c.max_tag()] {
                    let id = c.encode(slot, tag);
                    assert!(id >= 256, "cap {cap} slot {slot} tag {tag}");
                    assert_eq!(c.slot(id), slot);
                    assert_eq!(c.tag(id), tag);
                }
            }
            assert_eq!(c.next_tag(c.max_tag()), 1);
            assert_eq!(c.next_tag(1), 2.min(c.max_tag()));
        }
        assert!(Codec::for_capacity((1 << 24) + 1).is_none());
    }
}
