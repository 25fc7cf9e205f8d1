//! The Encrypted and Authenticated payload SK (RFC 7296 section 3.14) and its fragment form
//! SKF (RFC 7383 section 2.5), and the [`Encrypted`] view that hands a cipher its byte
//! ranges.
//!
//! Decrypting is not done here. To receive: [`Encrypted::new_checked`] on the whole message,
//! [`Encrypted::split`] with the negotiated cipher's IV and ICV lengths, verify or decrypt
//! with [`Encrypted::associated_data`] (AEAD, RFC 5282 section 5.1) or over
//! [`Encrypted::integrity_range`] (RFC 7296 section 3.14), strip the padding, then
//! [`parse_chain`](super::parse_chain) the plaintext from [`Encrypted::next_payload`]. To
//! send: emit the inner payloads with [`emit_chain`](super::emit_chain), pad and reserve IV
//! and ICV space in an [`SkRepr`], emit the [`Message`](super::Message), then fill the
//! ranges in place through [`Encrypted::split_mut`].

use core::fmt;
use core::ops::Range;

use super::codec::{Reader, Writer, ensure};
use super::{Error, GENERIC_HEADER_LEN, Header, PayloadType, Payloads, Result};

/// Length of the Fragment Number and Total Fragments fields that precede an SKF payload's
/// IV (RFC 7383 section 2.5).
const FRAGMENT_FIELDS_LEN: usize = 4;

/// The SK payload: the first inner payload's type (its generic header's Next Payload field)
/// and the encrypted data, IV through ICV, still encrypted.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct SkRepr {
    /// Type of the first payload inside the encrypted data.
    pub next_payload: PayloadType,
    /// Initialization Vector, encrypted payloads with padding and Pad Length, and ICV.
    pub data: Vec<u8>,
}

impl SkRepr {
    /// Parses an SK body, given its generic header's Next Payload field. The data must not be
    /// empty: even a NULL-IV AEAD carries the Pad Length octet.
    pub fn parse(next_payload: PayloadType, body: &[u8]) -> Result<SkRepr> {
        if body.is_empty() {
            return Err(Error::Malformed("empty encrypted payload"));
        }
        Ok(SkRepr { next_payload, data: body.to_vec() })
    }

    /// Length of the body.
    pub fn buffer_len(&self) -> usize {
        self.data.len()
    }

    /// Writes the body into the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        if self.data.is_empty() {
            return Err(Error::Malformed("empty encrypted payload"));
        }
        ensure(buf, self.data.len())?;
        buf[..self.data.len()].copy_from_slice(&self.data);
        Ok(())
    }
}

impl fmt::Display for SkRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SK next={} ({} bytes)", self.next_payload, self.data.len())
    }
}

/// The SKF payload (RFC 7383 section 2.5): one fragment of an encrypted message.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct SkfRepr {
    /// Type of the first inner payload in fragment 1; zero in the others (RFC 7383 section
    /// 2.5, not enforced on receipt).
    pub next_payload: PayloadType,
    /// Fragment Number, from 1.
    pub fragment_number: u16,
    /// Total Fragments, at least `fragment_number`.
    pub total_fragments: u16,
    /// IV, encrypted fragment data with padding and Pad Length, and ICV.
    pub data: Vec<u8>,
}

impl SkfRepr {
    fn check(number: u16, total: u16) -> Result<()> {
        if number == 0 || number > total {
            return Err(Error::InvalidFragment { number, total });
        }
        Ok(())
    }

    /// Parses an SKF body, given its generic header's Next Payload field.
    pub fn parse(next_payload: PayloadType, body: &[u8]) -> Result<SkfRepr> {
        let mut r = Reader::new(body);
        let fragment_number = r.u16()?;
        let total_fragments = r.u16()?;
        Self::check(fragment_number, total_fragments)?;
        let data = r.rest();
        if data.is_empty() {
            return Err(Error::Malformed("empty encrypted fragment"));
        }
        Ok(SkfRepr { next_payload, fragment_number, total_fragments, data: data.to_vec() })
    }

    /// Length of the body.
    pub fn buffer_len(&self) -> usize {
        FRAGMENT_FIELDS_LEN + self.data.len()
    }

    /// Writes the body into the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        Self::check(self.fragment_number, self.total_fragments)?;
        if self.data.is_empty() {
            return Err(Error::Malformed("empty encrypted fragment"));
        }
        ensure(buf, self.buffer_len())?;
        let mut w = Writer::new(buf);
        w.u16(self.fragment_number)?;
        w.u16(self.total_fragments)?;
        w.bytes(&self.data)
    }
}

impl fmt::Display for SkfRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SKF {}/{} next={} ({} bytes)",
            self.fragment_number,
            self.total_fragments,
            self.next_payload,
            self.data.len()
        )
    }
}

/// The encrypted part of an SK or SKF payload, split for a cipher.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct SkParts<'a> {
    /// Initialization Vector.
    pub iv: &'a [u8],
    /// Encrypted payloads, padding and Pad Length.
    pub ciphertext: &'a [u8],
    /// Integrity Checksum Data (or the AEAD tag).
    pub icv: &'a [u8],
}

/// [`SkParts`], writable, for encrypting in place.
#[derive(Debug, PartialEq, Eq)]
pub struct SkPartsMut<'a> {
    /// Initialization Vector.
    pub iv: &'a mut [u8],
    /// Plaintext to encrypt in place, or ciphertext.
    pub ciphertext: &'a mut [u8],
    /// Integrity Checksum Data (or the AEAD tag).
    pub icv: &'a mut [u8],
}

/// A view of a whole IKE message whose last payload is SK or SKF, giving the byte ranges a
/// cipher needs.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Encrypted<T: AsRef<[u8]>> {
    buffer: T,
    payload_type: PayloadType,
    next_payload: PayloadType,
    payload_offset: usize,
    data_offset: usize,
    end: usize,
    fragment: Option<(u16, u16)>,
}

impl<T: AsRef<[u8]>> Encrypted<T> {
    /// Checks the IKE header and walks the payload chain (as [`Payloads`] does) to the SK or
    /// SKF payload, which must be last; fails if there is none. For SKF, also checks the
    /// fragment numbers.
    pub fn new_checked(buffer: T) -> Result<Encrypted<T>> {
        let bytes = buffer.as_ref();
        let header = Header::new_checked(bytes)?;
        let end = usize::try_from(header.length()).map_err(|_| Error::BadLength)?;
        let mut found = None;
        for raw in Payloads::new(header.next_payload(), header.payloads()) {
            let raw = raw?;
            if raw.payload_type.is_encrypted() {
                found = Some(raw);
            }
        }
        let raw = found.ok_or(Error::Malformed("no encrypted payload"))?;
        let payload_offset = super::HEADER_LEN + raw.offset;
        let mut data_offset = payload_offset + GENERIC_HEADER_LEN;
        let fragment = if raw.payload_type == PayloadType::EncryptedFragment {
            let mut r = Reader::new(raw.body);
            let (number, total) = (r.u16()?, r.u16()?);
            SkfRepr::check(number, total)?;
            data_offset += FRAGMENT_FIELDS_LEN;
            Some((number, total))
        } else {
            None
        };
        Ok(Encrypted {
            payload_type: raw.payload_type,
            next_payload: raw.next_payload,
            payload_offset,
            data_offset,
            end,
            fragment,
            buffer,
        })
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The IKE header.
    pub fn header(&self) -> Header<&[u8]> {
        Header::new_unchecked(self.buffer.as_ref())
    }

    /// [`PayloadType::Encrypted`] or [`PayloadType::EncryptedFragment`].
    pub fn payload_type(&self) -> PayloadType {
        self.payload_type
    }

    /// Type of the first inner payload (the SK / SKF generic header's Next Payload).
    pub fn next_payload(&self) -> PayloadType {
        self.next_payload
    }

    /// Fragment Number and Total Fragments of an SKF payload.
    pub fn fragment(&self) -> Option<(u16, u16)> {
        self.fragment
    }

    /// Offset of the SK / SKF generic header in the message.
    pub fn payload_offset(&self) -> usize {
        self.payload_offset
    }

    /// Where IV through ICV lie in the message.
    pub fn encrypted_range(&self) -> Range<usize> {
        self.data_offset..self.end
    }

    /// The AEAD associated data: the IKE header through the SK generic header (RFC 5282
    /// section 5.1), or through the Total Fragments field for SKF (RFC 7383 section 2.5.3).
    /// Any unencrypted payloads before SK are included.
    pub fn associated_data(&self) -> &[u8] {
        &self.buffer.as_ref()[self.associated_data_range()]
    }

    /// Where [`associated_data`](Encrypted::associated_data) lies in the message.
    pub fn associated_data_range(&self) -> Range<usize> {
        0..self.data_offset
    }

    /// The bytes a non-AEAD integrity algorithm covers: the message from the IKE header up to
    /// the ICV (RFC 7296 section 3.14).
    pub fn integrity_range(&self, icv_len: usize) -> Result<Range<usize>> {
        let parts = self.ranges(0, icv_len)?;
        Ok(0..parts.1.end)
    }

    /// IV, ciphertext and ICV ranges: the ciphertext must hold at least the Pad Length octet.
    fn ranges(
        &self,
        iv_len: usize,
        icv_len: usize,
    ) -> Result<(Range<usize>, Range<usize>, Range<usize>)> {
        let iv_end = self.data_offset.checked_add(iv_len).ok_or(Error::Truncated)?;
        let icv_start = self.end.checked_sub(icv_len).ok_or(Error::Truncated)?;
        if iv_end >= icv_start {
            return Err(Error::Truncated);
        }
        Ok((self.data_offset..iv_end, iv_end..icv_start, icv_start..self.end))
    }

    /// Splits the encrypted data for a cipher with these IV and ICV lengths.
    pub fn split(&self, iv_len: usize, icv_len: usize) -> Result<SkParts<'_>> {
        let (iv, ct, icv) = self.ranges(iv_len, icv_len)?;
        let buf = self.buffer.as_ref();
        Ok(SkParts { iv: &buf[iv], ciphertext: &buf[ct], icv: &buf[icv] })
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Encrypted<T> {
    /// As [`split`](Encrypted::split), writable, for encrypting in place.
    pub fn split_mut(&mut self, iv_len: usize, icv_len: usize) -> Result<SkPartsMut<'_>> {
        let (iv, ct, icv) = self.ranges(iv_len, icv_len)?;
        let buf = &mut self.buffer.as_mut()[iv.start..icv.end];
        let (iv_buf, rest) = buf.split_at_mut(iv.len());
        let (ct_buf, icv_buf) = rest.split_at_mut(ct.len());
        Ok(SkPartsMut { iv: iv_buf, ciphertext: ct_buf, icv: icv_buf })
    }

    /// The associated data and the writable IV / ciphertext / ICV together, for an AEAD
    /// that seals in place.
    pub fn aad_and_parts_mut(
        &mut self,
        iv_len: usize,
        icv_len: usize,
    ) -> Result<(&[u8], SkPartsMut<'_>)> {
        let (iv, ct, icv) = self.ranges(iv_len, icv_len)?;
        let buf = &mut self.buffer.as_mut()[..icv.end];
        let (aad, rest) = buf.split_at_mut(iv.start);
        let (iv_buf, rest) = rest.split_at_mut(iv.len());
        let (ct_buf, icv_buf) = rest.split_at_mut(ct.len());
        Ok((&*aad, SkPartsMut { iv: iv_buf, ciphertext: ct_buf, icv: icv_buf }))
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// An INFORMATIONAL request with an SK payload: header (length 28 + 4 + 8 + 4 + 16 = 60),
    /// SK next=Delete (42), 8-byte IV 0x11.., 4 ciphertext bytes 0x22.., 16-byte ICV 0x33...
    fn message() -> Vec<u8> {
        let mut m = vec![
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, // SPIs
            0x2e, 0x20, 0x25, 0x08, 0, 0, 0, 2, 0, 0, 0,
            60, // SK first, INFORMATIONAL, I, mid 2
            0x2a, 0x00, 0x00, 0x20, // SK generic header: next D, length 32
        ];
        m.extend_from_slice(&[0x11; 8]);
        m.extend_from_slice(&[0x22; 4]);
        m.extend_from_slice(&[0x33; 16]);
        m
    }

    #[test]
    fn test_split() {
        let m = message();
        let e = Encrypted::new_checked(&m[..]).unwrap();
        assert_eq!(e.payload_type(), PayloadType::Encrypted);
        assert_eq!(e.next_payload(), PayloadType::Delete);
        assert_eq!(e.fragment(), None);
        assert_eq!(e.payload_offset(), 28);
        assert_eq!(e.associated_data(), &m[..32]);
        assert_eq!(e.associated_data_range(), 0..32);
        assert_eq!(e.encrypted_range(), 32..60);
        let p = e.split(8, 16).unwrap();
        assert_eq!((p.iv, p.ciphertext, p.icv), (&[0x11; 8][..], &[0x22; 4][..], &[0x33; 16][..]));
        assert_eq!(e.integrity_range(16).unwrap(), 0..44);
        // The ciphertext must keep at least the Pad Length octet.
        assert!(e.split(8, 20).is_err());
        assert_eq!(e.split(11, 16).unwrap().ciphertext, &[0x22]);
        assert!(e.split(12, 16).is_err());
        assert!(e.split(usize::MAX, 16).is_err());
        assert!(e.split(8, usize::MAX).is_err());
    }

    #[test]
    fn test_split_mut() {
        let mut m = message();
        let mut e = Encrypted::new_checked(&mut m[..]).unwrap();
        let p = e.split_mut(8, 16).unwrap();
        p.iv.fill(0x44);
        p.ciphertext.fill(0x55);
        p.icv.fill(0x66);
        let (aad, p) = e.aad_and_parts_mut(8, 16).unwrap();
        assert_eq!(aad.len(), 32);
        assert_eq!(p.ciphertext, &[0x55; 4]);
        assert_eq!(&m[32..40], &[0x44; 8]);
        assert_eq!(&m[44..60], &[0x66; 16]);
    }

    #[test]
    fn test_fragment() {
        let mut m = message();
        m[16] = 53;
        m[27] = 64;
        m[31] = 0x24;
        m.splice(32..32, [0, 2, 0, 3]);
        let e = Encrypted::new_checked(&m[..]).unwrap();
        assert_eq!(e.payload_type(), PayloadType::EncryptedFragment);
        assert_eq!(e.fragment(), Some((2, 3)));
        assert_eq!(e.associated_data(), &m[..36]);
        assert_eq!(e.split(8, 16).unwrap().ciphertext, &[0x22; 4]);
        m[33] = 4;
        assert_eq!(
            Encrypted::new_checked(&m[..]).err(),
            Some(Error::InvalidFragment { number: 4, total: 3 })
        );
    }

    #[test]
    fn test_check_len() {
        let m = message();
        for n in 0..m.len() {
            assert!(Encrypted::new_checked(&m[..n]).is_err(), "{n}");
        }
        // No SK payload at all.
        let mut plain = m.clone();
        plain[16] = 43;
        assert!(Encrypted::new_checked(&plain[..]).is_err());
    }

    #[test]
    fn test_reprs() {
        let sk = SkRepr::parse(PayloadType::IdI, &[1, 2, 3]).unwrap();
        let mut buf = [0xa5; 4];
        sk.emit(&mut buf).unwrap();
        assert_eq!(buf, [1, 2, 3, 0xa5]);
        assert_eq!(sk.buffer_len(), 3);
        assert!(SkRepr::parse(PayloadType::IdI, &[]).is_err());
        let skf = SkfRepr::parse(PayloadType::IdI, &[0, 1, 0, 2, 9]).unwrap();
        assert_eq!((skf.fragment_number, skf.total_fragments, &skf.data[..]), (1, 2, &[9][..]));
        let mut buf = [0xa5; 6];
        skf.emit(&mut buf).unwrap();
        assert_eq!(buf, [0, 1, 0, 2, 9, 0xa5]);
        for n in 0..5 {
            assert!(SkfRepr::parse(PayloadType::IdI, &[0, 1, 0, 2, 9][..n]).is_err());
        }
        assert!(SkfRepr::parse(PayloadType::IdI, &[0, 0, 0, 2, 9]).is_err());
        assert!(SkfRepr::parse(PayloadType::IdI, &[0, 1, 0, 0, 9]).is_err());
        assert_eq!(skf.to_string(), "SKF 1/2 next=IDi (1 bytes)");
    }
}
