//! Where IV, region and ICV sit in one ESP packet (RFC 4303 §2).

use super::Transform;

/// Bytes of SPI + low sequence number before the IV (RFC 4303 §2.1, §2.2).
pub(crate) const HEADER_LEN: usize = 8;

/// Offsets of one packet's parts, validated against the buffer length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Start of the region (end of the IV).
    pub region_start: usize,
    /// End of the region (start of the ICV).
    pub region_end: usize,
    /// End of the ICV (the buffer length).
    pub icv_end: usize,
}

impl Layout {
    /// Checks that `esp_len` bytes hold header, IV, a non-empty block-aligned region and the
    /// ICV. None means [`super::OpStatus::BadLength`].
    pub fn new(t: &Transform, esp_len: usize) -> Option<Self> {
        let region_start = HEADER_LEN + t.iv_len();
        let region_end = esp_len.checked_sub(t.icv_len())?;
        let region_len = region_end.checked_sub(region_start)?;
        if region_len == 0 || region_len % t.block_len() != 0 {
            return None;
        }
        Some(Layout { region_start, region_end, icv_end: esp_len })
    }

    pub const fn iv_start(&self) -> usize {
        HEADER_LEN
    }

    pub const fn region_len(&self) -> usize {
        self.region_end - self.region_start
    }
}

/// The 64-bit sequence number used for IV generation: `seq_hi` is always included.
pub(crate) fn seq64(esp: &[u8], seq_hi: u32) -> u64 {
    (u64::from(seq_hi) << 32) | u64::from(seq_lo(esp))
}

/// Low 32 bits of the sequence number, from the packet (caller checked the length).
pub(crate) fn seq_lo(esp: &[u8]) -> u32 {
    u32::from_be_bytes([esp[4], esp[5], esp[6], esp[7]])
}

/// AEAD additional data: SPI || seq (8 bytes), or SPI || seq_hi || seq_lo with ESN
/// (RFC 4106 §5, RFC 7634 §2.1). Returns the length written into `buf`.
pub(crate) fn aead_aad(esp: &[u8], seq_hi: u32, esn: bool, buf: &mut [u8; 12]) -> usize {
    buf[..4].copy_from_slice(&esp[..4]);
    if esn {
        buf[4..8].copy_from_slice(&seq_hi.to_be_bytes());
        buf[8..12].copy_from_slice(&esp[4..8]);
        12
    } else {
        buf[4..8].copy_from_slice(&esp[4..8]);
        8
    }
}
