//! The Vendor ID payload (RFC 7296 section 3.12).

use core::fmt;

use super::codec::ensure;
use super::{Hex, PayloadBody, Result};

/// The Vendor ID payload body: an opaque vendor-defined constant.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct VendorIdRepr {
    /// Vendor ID (VID).
    pub data: Vec<u8>,
}

impl PayloadBody for VendorIdRepr {
    fn parse(body: &[u8]) -> Result<VendorIdRepr> {
        Ok(VendorIdRepr { data: body.to_vec() })
    }

    fn buffer_len(&self) -> usize {
        self.data.len()
    }

    fn emit(&self, buf: &mut [u8]) -> Result<()> {
        ensure(buf, self.data.len())?;
        buf[..self.data.len()].copy_from_slice(&self.data);
        Ok(())
    }
}

impl fmt::Display for VendorIdRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "V {}", Hex(&self.data))
    }
}

#[cfg(test)]
mod test {
    use super::super::test_util::check_body;
    use super::*;

    #[test]
    fn test_body() {
        // strongSwan's vendor ID: MD5("strongSwan").
        let bytes = [
            0x88, 0x2f, 0xe5, 0x6d, 0x6f, 0xd2, 0x0d, 0xbc, 0x22, 0x51, 0x61, 0x3b, 0x2e, 0xbe,
            0x5b, 0xeb,
        ];
        let repr = VendorIdRepr { data: bytes.to_vec() };
        check_body(&bytes, &repr, 0);
        assert_eq!(repr.to_string(), "V 882fe56d6fd20dbc2251613b2ebe5beb");
    }
}
