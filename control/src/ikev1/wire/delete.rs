//! The Delete payload (RFC 2408 section 3.15).

use super::WireError;
use super::codec::{Mode, Reader, Result, clamped, fit, strict};

/// A Delete payload body: SAs of one protocol, named by SPIs of one size.
///
/// Parsing is strict: the body is exactly the fixed part plus `count` SPIs of `spi_size`
/// bytes; an SPI size of 0 with SPIs to delete is refused (it names nothing and would let
/// eight bytes announce 65535 entries).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Delete {
    /// Domain of Interpretation.
    pub doi: u32,
    /// Protocol ID ([`protocol`](super::protocol)).
    pub protocol: u8,
    /// SPI size: 16 for the ISAKMP SA (the two cookies), 4 for AH / ESP.
    pub spi_size: u8,
    /// The SPIs, each exactly `spi_size` bytes.
    pub spis: Vec<Vec<u8>>,
}

impl Delete {
    /// Parses the payload body (after the generic header).
    pub fn parse(body: &[u8]) -> core::result::Result<Delete, WireError> {
        let mut r = Reader::new(body, "delete payload");
        let doi = r.u32()?;
        let protocol = r.u8()?;
        let spi_size = r.u8()?;
        let count = usize::from(r.u16()?);
        if spi_size == 0 && count != 0 {
            return Err(WireError::Malformed("delete payload: SPIs of size 0"));
        }
        let mut spis = Vec::with_capacity(count.min(r.remaining() / usize::from(spi_size.max(1))));
        for _ in 0..count {
            spis.push(r.bytes(usize::from(spi_size))?.to_vec());
        }
        r.finish()?;
        Ok(Delete { doi, protocol, spi_size, spis })
    }

    /// The body bytes. Values that cannot be encoded are made to fit: each SPI is cut or
    /// zero-padded to `spi_size`, at most 65535 SPIs are written, none if `spi_size` is 0.
    pub fn body_bytes(&self) -> Vec<u8> {
        clamped(|out, mode| self.emit(out, mode))
    }

    /// The body bytes, or an error if an SPI is not `spi_size` bytes, `spi_size` is 0 with
    /// SPIs present, or there are more than 65535 SPIs.
    pub fn try_body_bytes(&self) -> core::result::Result<Vec<u8>, WireError> {
        strict(|out, mode| self.emit(out, mode))
    }

    pub(crate) fn emit(&self, out: &mut Vec<u8>, mode: Mode) -> Result<()> {
        let size = usize::from(self.spi_size);
        let max = if size == 0 { 0 } else { usize::from(u16::MAX) };
        if mode == Mode::Strict && size == 0 && !self.spis.is_empty() {
            return Err(WireError::Malformed("delete payload: SPIs of size 0"));
        }
        let count = fit(mode, "delete SPI count", self.spis.len(), max)?;
        out.extend_from_slice(&self.doi.to_be_bytes());
        out.push(self.protocol);
        out.push(self.spi_size);
        out.extend_from_slice(&u16::try_from(count).unwrap_or(u16::MAX).to_be_bytes());
        for spi in self.spis.iter().take(count) {
            fit(mode, "delete SPI", spi.len(), size)?;
            if spi.len() < size && mode == Mode::Strict {
                return Err(WireError::Malformed("delete payload: SPI shorter than the SPI size"));
            }
            let head = spi.get(..size).unwrap_or(spi);
            out.extend_from_slice(head);
            out.resize(out.len() + (size - head.len()), 0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    #[test]
    fn layout_and_strictness() {
        let d = Delete {
            doi: 1,
            protocol: 3,
            spi_size: 4,
            spis: vec![hex!("c0000001").to_vec(), hex!("c0000002").to_vec()],
        };
        let bytes = d.body_bytes();
        assert_eq!(bytes, hex!("00000001 03 04 0002 c0000001 c0000002"));
        assert_eq!(Delete::parse(&bytes), Ok(d.clone()));
        assert!(matches!(Delete::parse(&bytes[..15]), Err(WireError::Truncated { .. })));
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            Delete::parse(&long),
            Err(WireError::TrailingBytes { what: "delete payload", extra: 1 })
        );
        assert!(Delete::parse(&hex!("00000001 03 00 ffff")).is_err());
        assert_eq!(
            Delete::parse(&hex!("00000001 01 00 0000")),
            Ok(Delete { doi: 1, protocol: 1, spi_size: 0, spis: vec![] })
        );
    }

    #[test]
    fn mismatched_spis() {
        let d = Delete { doi: 1, protocol: 3, spi_size: 4, spis: vec![vec![1, 2], vec![1; 6]] };
        assert!(d.try_body_bytes().is_err());
        let fixed = Delete::parse(&d.body_bytes()).unwrap();
        assert_eq!(fixed.spis, [vec![1, 2, 0, 0], vec![1; 4]]);
        let zero = Delete { doi: 1, protocol: 3, spi_size: 0, spis: vec![vec![]] };
        assert!(zero.try_body_bytes().is_err());
        assert_eq!(Delete::parse(&zero.body_bytes()).unwrap().spis.len(), 0);
    }
}
