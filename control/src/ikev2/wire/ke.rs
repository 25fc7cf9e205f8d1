//! The Key Exchange payload (RFC 7296 section 3.4).

use core::fmt;

use super::codec::{Reader, Writer, ensure};
use super::{DhGroup, Error, PayloadBody, Result};

/// The KE payload body: the DH group and the sender's public value.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct KeRepr {
    /// Diffie-Hellman Group Num (a [`DhGroup`] code point).
    pub group: DhGroup,
    /// Key Exchange Data: the public value, whose length the group fixes (RFC 7296 section
    /// 3.4; the crypto module checks it, since only it knows every group's size).
    pub data: Vec<u8>,
}

impl PayloadBody for KeRepr {
    fn parse(body: &[u8]) -> Result<KeRepr> {
        let mut r = Reader::new(body);
        let group = DhGroup::from(r.u16()?);
        let _reserved = r.u16()?;
        let data = r.rest().to_vec();
        if data.is_empty() {
            return Err(Error::Malformed("KE payload without key exchange data"));
        }
        Ok(KeRepr { group, data })
    }

    fn buffer_len(&self) -> usize {
        4 + self.data.len()
    }

    fn emit(&self, buf: &mut [u8]) -> Result<()> {
        ensure(buf, self.buffer_len())?;
        let mut w = Writer::new(buf);
        w.u16(self.group.into())?;
        w.u16(0)?;
        w.bytes(&self.data)
    }
}

impl fmt::Display for KeRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KE {} ({} bytes)", self.group, self.data.len())
    }
}

#[cfg(test)]
mod test {
    use super::super::test_util::check_body;
    use super::*;

    /// Curve25519 (31), reserved 0, then a 32-byte public value 0x00..0x1f.
    fn bytes() -> Vec<u8> {
        let mut b = vec![0x00, 0x1f, 0x00, 0x00];
        b.extend(0u8..32);
        b
    }

    #[test]
    fn test_body() {
        let repr = KeRepr { group: DhGroup::Curve25519, data: (0u8..32).collect() };
        check_body(&bytes(), &repr, 5);
        assert_eq!(repr.to_string(), "KE CURVE_25519 (32 bytes)");
    }

    #[test]
    fn test_reserved_ignored() {
        let mut b = bytes();
        b[2] = 0xff;
        assert_eq!(KeRepr::parse(&b).unwrap().group, DhGroup::Curve25519);
    }
}
