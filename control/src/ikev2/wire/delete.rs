//! The Delete payload (RFC 7296 section 3.11).

use core::fmt;

use super::codec::{Reader, Writer, ensure};
use super::{Error, PayloadBody, ProtocolId, Result};

/// SPI size of an AH or ESP SA in a Delete payload (RFC 7296 section 3.11).
const CHILD_SPI_SIZE: u8 = 4;

/// The Delete payload body: the IKE SA itself (no SPIs), or AH / ESP SAs by their inbound
/// SPIs.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct DeleteRepr {
    /// Protocol ID: IKE, AH or ESP.
    pub protocol: ProtocolId,
    /// The SPIs, as the sender's inbound SPIs; empty for IKE.
    pub spis: Vec<u32>,
}

impl DeleteRepr {
    /// The SPI size the protocol fixes: 0 for IKE (the SPIs are in the header), 4 for AH and
    /// ESP (RFC 7296 section 3.11).
    fn spi_size(protocol: ProtocolId) -> Result<u8> {
        match protocol {
            ProtocolId::Ike => Ok(0),
            ProtocolId::Ah | ProtocolId::Esp => Ok(CHILD_SPI_SIZE),
            _ => Err(Error::Malformed("Delete for a protocol other than IKE, AH, ESP")),
        }
    }
}

impl PayloadBody for DeleteRepr {
    fn parse(body: &[u8]) -> Result<DeleteRepr> {
        let mut r = Reader::new(body);
        let protocol = ProtocolId::from(r.u8()?);
        let spi_size = r.u8()?;
        let count = r.u16()?;
        if spi_size != Self::spi_size(protocol)? {
            return Err(Error::InvalidSpiSize(spi_size));
        }
        if protocol == ProtocolId::Ike && count != 0 {
            return Err(Error::Malformed("Delete of the IKE SA with SPIs"));
        }
        let mut spis = Vec::with_capacity(usize::from(count).min(body.len() / 4));
        for _ in 0..count {
            spis.push(r.u32()?);
        }
        if !r.is_empty() {
            return Err(Error::Malformed("bytes after the last SPI"));
        }
        Ok(DeleteRepr { protocol, spis })
    }

    fn buffer_len(&self) -> usize {
        4 + 4 * self.spis.len()
    }

    fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let spi_size = Self::spi_size(self.protocol)?;
        if spi_size == 0 && !self.spis.is_empty() {
            return Err(Error::Malformed("Delete of the IKE SA with SPIs"));
        }
        let count = u16::try_from(self.spis.len()).map_err(|_| Error::TooLong)?;
        ensure(buf, self.buffer_len())?;
        let mut w = Writer::new(buf);
        w.u8(self.protocol.into())?;
        w.u8(spi_size)?;
        w.u16(count)?;
        self.spis.iter().try_for_each(|spi| w.u32(*spi))
    }
}

impl fmt::Display for DeleteRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "D {}", self.protocol)?;
        for spi in &self.spis {
            write!(f, " {spi:08x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::super::test_util::check_body;
    use super::*;

    #[test]
    fn test_esp() {
        let bytes = [0x03, 0x04, 0x00, 0x02, 0xc1, 0xc2, 0xc3, 0xc4, 0x00, 0x00, 0x10, 0x01];
        let repr = DeleteRepr { protocol: ProtocolId::Esp, spis: vec![0xc1c2_c3c4, 0x1001] };
        check_body(&bytes, &repr, bytes.len());
        assert_eq!(repr.to_string(), "D ESP c1c2c3c4 00001001");
    }

    #[test]
    fn test_ike() {
        let bytes = [0x01, 0x00, 0x00, 0x00];
        check_body(&bytes, &DeleteRepr { protocol: ProtocolId::Ike, spis: vec![] }, 4);
        assert!(DeleteRepr::parse(&[0x01, 0x00, 0x00, 0x01]).is_err());
        assert_eq!(DeleteRepr::parse(&[0x01, 0x08, 0x00, 0x00]), Err(Error::InvalidSpiSize(8)));
    }

    #[test]
    fn test_malformed() {
        assert!(DeleteRepr::parse(&[0x03, 0x04, 0x00, 0x02, 1, 2, 3, 4]).is_err());
        assert!(DeleteRepr::parse(&[0x03, 0x04, 0x00, 0x00, 1]).is_err());
        assert!(DeleteRepr::parse(&[0x07, 0x04, 0x00, 0x00]).is_err());
        // A huge count with no SPIs behind it fails without a huge allocation.
        assert!(DeleteRepr::parse(&[0x03, 0x04, 0xff, 0xff]).is_err());
        let bad = DeleteRepr { protocol: ProtocolId::Ike, spis: vec![1] };
        assert!(bad.to_vec().is_err());
    }
}
