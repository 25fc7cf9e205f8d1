//! The operating system's randomness, for IKE SPIs, nonces and DH secrets.

use rand_core::{Infallible, TryCryptoRng, TryRng};

/// `getrandom(2)` (or the platform's equivalent) behind the `rand_core` traits the state
/// machines take.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRng;

impl TryRng for OsRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        // Without the OS generator there is no safe key to make: stopping is the only
        // answer that does not hand out predictable nonces or DH secrets.
        if let Err(e) = getrandom::fill(dst) {
            panic!("the operating system's random generator failed: {e}");
        }
        Ok(())
    }
}

impl TryCryptoRng for OsRng {}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::Rng;

    #[test]
    fn draws_differ() {
        let mut r = OsRng;
        let (a, b) = (r.next_u64(), r.next_u64());
        assert_ne!(a, b, "two 64-bit draws collide with probability 2^-64");
        let mut buf = [0u8; 32];
        r.fill_bytes(&mut buf);
        assert_ne!(buf, [0u8; 32]);
    }
}
