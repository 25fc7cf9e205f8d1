//! One packet's crypto request inside a burst.

use super::SaCipher;

/// Outcome of one [`CryptoOp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpStatus {
    /// Not processed yet.
    Pending,
    /// Sealed, or verified and decrypted.
    Ok,
    /// The ICV did not match: drop the packet. Header, IV and ICV are as received; the
    /// region is as received with the RustCrypto engine, but an engine that verifies and
    /// decrypts in one pass (ipsec-mb) may have decrypted it in place.
    AuthFailed,
    /// The buffer cannot hold header, IV and ICV, or the region is empty or not a multiple
    /// of the transform's block length. The packet was not touched.
    BadLength,
}

/// One packet's ESP crypto. `esp` spans the whole ESP packet from the SPI to the end of the
/// ICV: `[SPI(4) | seq low 32 bits (4) | IV (iv_len) | region | ICV (icv_len)]`, with
/// region = payload || padding || pad length || next header and
/// `region.len() % transform.block_len() == 0`.
///
/// `seq_hi` is the high half of the 64-bit sequence number. It enters the AAD / ICV only when
/// `esn` is set (RFC 4303 §2.2.1), but it is always part of the generated IV, so the IV of
/// counter-mode transforms never repeats under one key.
pub struct CryptoOp<'a> {
    pub sa: &'a SaCipher,
    pub esp: &'a mut [u8],
    pub seq_hi: u32,
    pub esn: bool,
    pub status: OpStatus,
}

impl<'a> CryptoOp<'a> {
    /// A pending op.
    pub fn new(sa: &'a SaCipher, esp: &'a mut [u8], seq_hi: u32, esn: bool) -> Self {
        CryptoOp { sa, esp, seq_hi, esn, status: OpStatus::Pending }
    }
}
