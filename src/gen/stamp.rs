//! The 22-byte stamp at the start of every generated UDP payload, and the checksum sums the
//! templates use to patch headers per packet.
//!
//! ```text
//! offset  0  magic   u16  0xfe67
//!         2  run     u16  tag of the generator run (stale packets of another run do not count)
//!         4  flow    u32  inner flow index
//!         8  seq     u48  per-flow sequence number, from 0
//!        14  ts_ns   u64  send time, ns on the generator's monotonic clock (CLOCK_MONOTONIC
//!                         since the run started)
//! ```
//!
//! All fields are big-endian. 22 bytes is what a 64-byte frame (FCS excluded) leaves after
//! Ethernet, IPv4 and UDP headers, so the smallest frame carries the whole stamp.

/// Bytes of the stamp.
pub const STAMP_LEN: usize = 22;
/// First two bytes of every stamp.
pub const MAGIC: u16 = 0xfe67;
/// Sequence numbers are 48 bits: at 100 Mpps on one flow they wrap after 32 days.
pub const SEQ_MASK: u64 = (1 << 48) - 1;

/// What a stamp says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub run: u16,
    pub flow: u32,
    pub seq: u64,
    pub ts_ns: u64,
}

impl Stamp {
    /// Writes the stamp into `out` (at least [`STAMP_LEN`] bytes, else nothing is written)
    /// and returns the ones' complement sum of its 16-bit words, unfolded, for the UDP
    /// checksum.
    #[inline]
    pub fn write(&self, out: &mut [u8]) -> u64 {
        let Some(out) = out.get_mut(..STAMP_LEN) else {
            return 0;
        };
        let seq = (self.seq & SEQ_MASK).to_be_bytes();
        out[0..2].copy_from_slice(&MAGIC.to_be_bytes());
        out[2..4].copy_from_slice(&self.run.to_be_bytes());
        out[4..8].copy_from_slice(&self.flow.to_be_bytes());
        out[8..14].copy_from_slice(&seq[2..8]);
        out[14..22].copy_from_slice(&self.ts_ns.to_be_bytes());
        let mut sum = u64::from(MAGIC) + u64::from(self.run);
        sum += u64::from(self.flow >> 16) + u64::from(self.flow & 0xffff);
        let s = self.seq & SEQ_MASK;
        sum += (s >> 32) + ((s >> 16) & 0xffff) + (s & 0xffff);
        let t = self.ts_ns;
        sum += (t >> 48) + ((t >> 32) & 0xffff) + ((t >> 16) & 0xffff) + (t & 0xffff);
        sum
    }

    /// Reads a stamp; `None` unless `b` starts with one.
    #[inline]
    pub fn read(b: &[u8]) -> Option<Stamp> {
        let b = b.get(..STAMP_LEN)?;
        if u16::from_be_bytes([b[0], b[1]]) != MAGIC {
            return None;
        }
        let mut seq = [0u8; 8];
        seq[2..8].copy_from_slice(&b[8..14]);
        Some(Stamp {
            run: u16::from_be_bytes([b[2], b[3]]),
            flow: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            seq: u64::from_be_bytes(seq),
            ts_ns: u64::from_be_bytes([b[14], b[15], b[16], b[17], b[18], b[19], b[20], b[21]]),
        })
    }
}

/// The unfolded sum of `data` as big-endian 16-bit words, an odd last byte padded with a
/// zero (RFC 1071); callers fold once at the end.
pub fn sum_words(data: &[u8]) -> u64 {
    let mut acc = 0u64;
    let mut pairs = data.chunks_exact(2);
    for p in &mut pairs {
        acc += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = *pairs.remainder() {
        acc += u64::from(last) << 8;
    }
    acc
}

/// Folds an unfolded sum to 16 bits (end-around carry).
#[inline]
pub fn fold(mut sum: u64) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_and_their_sum_matches_the_bytes() {
        let s =
            Stamp { run: 0xbeef, flow: 0x0102_0304, seq: 0x1234_5678_9abc, ts_ns: u64::MAX - 7 };
        let mut b = [0u8; 30];
        let sum = s.write(&mut b);
        assert_eq!(Stamp::read(&b), Some(s));
        assert_eq!(fold(sum), fold(sum_words(&b[..STAMP_LEN])));
        b[0] = 0;
        assert_eq!(Stamp::read(&b), None);
        assert_eq!(Stamp::read(&b[..STAMP_LEN - 1]), None);
        assert_eq!(s.write(&mut [0u8; 4]), 0, "too short: nothing written");
    }

    #[test]
    fn sequence_numbers_keep_48_bits() {
        let s = Stamp { run: 1, flow: 2, seq: (1 << 50) + 5, ts_ns: 3 };
        let mut b = [0u8; STAMP_LEN];
        s.write(&mut b);
        assert_eq!(Stamp::read(&b).map(|r| r.seq), Some(5));
    }
}
