//! The EAP payload (RFC 7296 section 3.16), carried opaque: the EAP method code parses it.

use core::fmt;

use super::codec::ensure;
use super::{Error, PayloadBody, Result};

/// The EAP payload body: one EAP message (RFC 3748 section 4), kept as bytes.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct EapRepr {
    /// The EAP message: Code, Identifier, Length, Type, Type Data.
    pub message: Vec<u8>,
}

impl EapRepr {
    /// The EAP Code octet (1 Request, 2 Response, 3 Success, 4 Failure; RFC 3748 section 4).
    pub fn code(&self) -> Option<u8> {
        self.message.first().copied()
    }
}

impl PayloadBody for EapRepr {
    /// Takes the body as is; only an empty one is refused, since every EAP message has at
    /// least its 4-byte header (RFC 3748 section 4).
    fn parse(body: &[u8]) -> Result<EapRepr> {
        if body.is_empty() {
            return Err(Error::Malformed("empty EAP payload"));
        }
        Ok(EapRepr { message: body.to_vec() })
    }

    fn buffer_len(&self) -> usize {
        self.message.len()
    }

    fn emit(&self, buf: &mut [u8]) -> Result<()> {
        ensure(buf, self.message.len())?;
        buf[..self.message.len()].copy_from_slice(&self.message);
        Ok(())
    }
}

impl fmt::Display for EapRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EAP ({} bytes)", self.message.len())
    }
}

#[cfg(test)]
mod test {
    use super::super::test_util::check_body;
    use super::*;

    #[test]
    fn test_body() {
        // EAP-Request/Identity, identifier 1, length 5.
        let bytes = [0x01, 0x01, 0x00, 0x05, 0x01];
        let repr = EapRepr { message: bytes.to_vec() };
        check_body(&bytes, &repr, 1);
        assert_eq!(repr.code(), Some(1));
    }
}
