//! The Nonce payload (RFC 7296 section 3.9).

use core::fmt;

use super::codec::ensure;
use super::{Error, PayloadBody, Result};

/// Shortest nonce: 16 bytes (RFC 7296 section 3.9: "at least 128 bits").
pub const MIN_NONCE_LEN: usize = 16;

/// Longest nonce: 256 bytes (RFC 7296 section 3.9: "not more than 256 octets").
pub const MAX_NONCE_LEN: usize = 256;

/// The Nonce payload body (Ni / Nr): 16 to 256 random bytes.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct NonceRepr {
    /// Nonce Data.
    pub data: Vec<u8>,
}

impl NonceRepr {
    fn check(len: usize) -> Result<()> {
        if (MIN_NONCE_LEN..=MAX_NONCE_LEN).contains(&len) {
            Ok(())
        } else {
            Err(Error::InvalidNonceLength(len))
        }
    }
}

impl PayloadBody for NonceRepr {
    fn parse(body: &[u8]) -> Result<NonceRepr> {
        Self::check(body.len())?;
        Ok(NonceRepr { data: body.to_vec() })
    }

    fn buffer_len(&self) -> usize {
        self.data.len()
    }

    fn emit(&self, buf: &mut [u8]) -> Result<()> {
        Self::check(self.data.len())?;
        ensure(buf, self.data.len())?;
        buf[..self.data.len()].copy_from_slice(&self.data);
        Ok(())
    }
}

impl fmt::Display for NonceRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "No ({} bytes)", self.data.len())
    }
}

#[cfg(test)]
mod test {
    use super::super::test_util::check_body;
    use super::*;

    #[test]
    fn test_body() {
        let bytes: Vec<u8> = (0u8..32).collect();
        check_body(&bytes, &NonceRepr { data: bytes.clone() }, MIN_NONCE_LEN);
    }

    #[test]
    fn test_bounds() {
        assert_eq!(NonceRepr::parse(&[0; 15]), Err(Error::InvalidNonceLength(15)));
        assert!(NonceRepr::parse(&[0; 16]).is_ok());
        assert!(NonceRepr::parse(&[0; 256]).is_ok());
        assert_eq!(NonceRepr::parse(&[0; 257]), Err(Error::InvalidNonceLength(257)));
        assert_eq!(NonceRepr { data: vec![0; 8] }.to_vec(), Err(Error::InvalidNonceLength(8)));
    }
}
